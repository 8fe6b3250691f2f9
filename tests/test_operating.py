"""Operating points: negative streams built from one split and no command, false accepts per hour,
the threshold replay against the recogniser run at each threshold, the threshold chooser, and the
DET figure; on tiny data made here (tones, made-up window scores), no model."""
import dataclasses
import types

import numpy as np
import pandas as pd
import pytest
import soundfile
from conftest import load_benchmark

from competition import PipelineError
from competition.core.config import ListenConfig, Settings, project
from competition.core.labels import COMMANDS, LABELS
from competition.device.operating_point import UNMEASURED_THRESHOLD, choose, read_points, resolve
from competition.device.recognizer import Recognizer
from competition.streaming.operating import (
    ScoredStream,
    lowest_threshold,
    operating_points,
    per_hour,
    score,
)

RATE = 16_000


def _streams():
    return load_benchmark("streams")


# ---- negative streams -----------------------------------------------------------------------------

QUIET, LOUD = 0.05, 0.9


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    """An extract folder and its index: the validation split's auxiliary words are quiet tones; the
    commands and the training split's words are loud, so a loud sample in a stream is a wrong draw.
    The noise file is a low hum in its first four fifths (training's) and a high one in its last."""
    root = tmp_path_factory.mktemp("extract")
    rows = []
    t = np.arange(RATE) / RATE
    for i, (word, speaker, split) in enumerate([
            ("bed", "aaaa0001", "validation"), ("cat", "aaaa0002", "validation"), ("dog", "aaaa0001", "validation"),
            ("yes", "aaaa0001", "validation"), ("no", "aaaa0002", "validation"),
            ("bed", "bbbb0001", "train"), ("cat", "bbbb0002", "train")]):
        loud = split == "train" or word in COMMANDS
        word_part = (t > 0.3) & (t < 0.7)  # a "word" in the middle of a quiet clip
        clip = ((LOUD if loud else QUIET) * np.sin(2 * np.pi * (300 + 40 * i) * t) * word_part).astype(np.float32)
        path = f"train/audio/{word}/{speaker}_nohash_0.wav"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / path, clip, RATE)
        rows.append({"path": path, "word": word, "label": word if word in COMMANDS else "unknown", "speaker": speaker,
                     "split": split, "offset": 0, "gain": 1.0, "kind": "clip"})
    noise_dir = root / "train" / "audio" / "_background_noise_"
    noise_dir.mkdir(parents=True)
    n = np.arange(50 * RATE)
    hum = np.where(n < 0.8 * (len(n) - RATE), np.sin(2 * np.pi * 100 * n / RATE), np.sin(2 * np.pi * 4000 * n / RATE))
    soundfile.write(noise_dir / "hum.wav", (0.01 * hum).astype(np.float32), RATE)
    pd.DataFrame(rows).to_csv(root / "index.csv", index=False)
    return root


def _negatives(extract, out, kind, seed=1, split="validation", minutes=0.5):
    _streams().main(["negatives", "--kind", kind, "--index", str(extract / "index.csv"), "--clips", str(extract),
                     "--split", split, "--minutes", str(minutes), "--seed", str(seed), "--noise-dbfs", "-60",
                     "--output", str(out)])
    samples, rate = soundfile.read(out, dtype="float32")
    return samples, rate, pd.read_csv(out.with_name(out.stem + ".labels.csv"), keep_default_na=False)


@pytest.mark.parametrize("kind", ["words", "talk"])
def test_negative_streams_draw_only_the_asked_splits_other_words(extract, tmp_path, kind):
    samples, rate, labels = _negatives(extract, tmp_path / f"{kind}.wav", kind)
    index = pd.read_csv(extract / "index.csv")
    allowed = set(index.loc[(index["split"] == "validation") & ~index["word"].isin(COMMANDS), "path"])
    drawn = {part.split("[")[0] for source in labels["source"] for part in source.split(" + ")}
    assert rate == RATE and len(samples) == 30 * RATE
    assert drawn == allowed  # every validation word drawn, nothing else
    assert not labels["label"].isin(COMMANDS).any() and len(labels) >= 8
    assert np.abs(samples).max() < 2 * QUIET  # no loud (command or training) clip anywhere in the audio
    if kind == "talk":
        assert any("[" in source for source in labels["source"])  # pieces of words among the words
        assert labels["source"].str.count(r" \+ ").max() >= 2     # several joined into one "sentence"


def test_the_training_split_draws_the_training_words(extract, tmp_path):
    samples, _, labels = _negatives(extract, tmp_path / "train.wav", "words", split="train")
    assert set(labels["source"]) == {"train/audio/bed/bbbb0001_nohash_0.wav", "train/audio/cat/bbbb0002_nohash_0.wav"}
    assert np.abs(samples).max() > 0.5 * LOUD


def test_negative_streams_are_seeded_and_byte_identical(extract, tmp_path):
    for kind in ("talk", "noise"):
        _negatives(extract, tmp_path / "a.wav", kind, seed=4)
        _negatives(extract, tmp_path / "b.wav", kind, seed=4)
        _negatives(extract, tmp_path / "c.wav", kind, seed=5)
        read = {name: ((tmp_path / f"{name}.wav").read_bytes(), (tmp_path / f"{name}.labels.csv").read_bytes())
                for name in "abc"}
        assert read["a"] == read["b"] and read["a"][0] != read["c"][0]
    assert not list(tmp_path.glob(".*partial*"))  # written whole, no temporary file left


def test_validation_noise_is_the_noise_files_last_fifth(extract, tmp_path):
    samples, _, labels = _negatives(extract, tmp_path / "noise.wav", "noise", minutes=1.0)
    assert set(labels["label"]) == {"silence"} and set(labels["source"]) == {"hum.wav"}
    spectrum = np.abs(np.fft.rfft(samples))
    frequency = np.fft.rfftfreq(len(samples), 1 / RATE)
    high, low = spectrum[np.abs(frequency - 4000) < 5].sum(), spectrum[np.abs(frequency - 100) < 5].sum()
    assert high > 100 * low  # the bed and the bursts: only validation's stretch of the file


def test_synthetic_sentences_hold_no_command():
    streams = _streams()
    assert all(streams.command_free(sentence) for sentence in streams.SENTENCES)
    assert not streams.command_free("Go to bed") and not streams.command_free("turn it OFF, please")
    assert streams.command_free("going upstairs to the offer")  # words that only hold a command's sounds


# ---- false accepts per hour -----------------------------------------------------------------------

def test_every_detection_in_a_negative_stream_is_a_false_accept(tmp_path, capsys):
    labels = pd.DataFrame([(1.0, "unknown"), (5.0, "silence")], columns=["time_s", "label"])
    found = pd.DataFrame([(1.5, "yes", 0.9), (9.0, "no", 0.8), (20.0, "go", 0.75)],
                         columns=["time_s", "label", "confidence"])
    result = score(labels, found, seconds=1800.0)
    assert result["commands"] == 0 and result["false_per_hour"] == pytest.approx(6.0)  # 3 in half an hour
    assert result["false_per_min"] == pytest.approx(0.1)
    assert per_hour(1, 7200.0) == 0.5
    with pytest.raises(ValueError, match="positive length"):
        per_hour(1, 0.0)
    labels.to_csv(tmp_path / "n.labels.csv", index=False)
    found.to_csv(tmp_path / "n.csv", index=False)
    _streams().main(["score", "--labels", str(tmp_path / "n.labels.csv"), "--detections", str(tmp_path / "n.csv"),
                     "--seconds", "1800"])
    assert capsys.readouterr().out.strip() == "no commands, 3 detections: 6.0 false accepts per hour"


def test_score_counts_the_false_accepts_by_what_was_said_before_them(tmp_path, capsys):
    labels = pd.DataFrame([(1.0, "unknown", "train/audio/two/a_nohash_0.wav"),
                           (4.0, "unknown", "train/audio/dog/b_nohash_0.wav + train/audio/two/a_nohash_0.wav[0.1:0.3]"),
                           (9.0, "silence", "running_tap.wav")], columns=["time_s", "label", "source"])
    found = pd.DataFrame([(1.9, "go"), (3.5, "go"), (4.8, "down"), (12.0, "stop")], columns=["time_s", "label"])
    labels.to_csv(tmp_path / "n.labels.csv", index=False)
    found.to_csv(tmp_path / "n.csv", index=False)
    _streams().main(["score", "--labels", str(tmp_path / "n.labels.csv"), "--detections", str(tmp_path / "n.csv"),
                     "--seconds", "3600", "--sources"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == [["two", "go", "2"], ["dog", "two*", "down", "1"], ["running_tap.wav", "stop", "1"]]


# ---- the replay over made-up window scores --------------------------------------------------------

HOP = 0.2


def _made_up(name, seconds, onsets, rng, bumps=0):
    """Window scores every 0.2 s: mostly silence; each labelled command raises its class (or, now and
    then, another command) over the windows that hold it; `bumps` raise a random command anywhere."""
    times = np.round(HOP * np.arange(5, int(seconds / HOP) + 1), 3)
    scores = rng.dirichlet(np.ones(len(LABELS)), len(times)) * 0.2
    scores[:, LABELS.index("silence")] += 0.8
    events = [(onset, label) for onset, label in onsets] + [
        (float(rng.uniform(1, seconds - 2)), COMMANDS[rng.integers(len(COMMANDS))]) for _ in range(bumps)]
    for onset, label in events:
        named = label if rng.random() > 0.15 else COMMANDS[rng.integers(len(COMMANDS))]
        held = (times > onset + 0.5) & (times < onset + 1.0 + rng.uniform(0, 0.5))
        peak = rng.uniform(0.3, 1.0)
        scores[held] *= 1 - peak
        scores[held, LABELS.index(named)] += peak
    labels = pd.DataFrame(onsets if onsets else [(1.0, "unknown")], columns=["time_s", "label"])
    return ScoredStream(name, times, scores, labels, seconds)


@pytest.fixture(scope="module")
def made_up():
    rng = np.random.default_rng(11)
    commands = [(float(t), COMMANDS[i % 10]) for i, t in enumerate(np.arange(2.0, 290.0, 3.0))]
    return [_made_up("words", 600.0, [], rng, bumps=120), _made_up("talk", 300.0, [], rng, bumps=80),
            _made_up("commands", 300.0, commands, rng, bumps=10)]


CONFIG = project(ListenConfig, Settings())
THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def test_the_replay_is_the_recogniser_run_at_each_threshold(made_up):
    points = operating_points(made_up, LABELS, COMMANDS, CONFIG, THRESHOLDS)
    assert points["threshold"].tolist() == THRESHOLDS
    for threshold, row in zip(THRESHOLDS, points.itertuples()):
        config = dataclasses.replace(CONFIG, listen_threshold=threshold)
        heard = {}
        for stream in made_up:  # as --listen would: window by window, then the end of the stream
            recognizer = Recognizer.configured(LABELS, COMMANDS, config)
            found = [recognizer.update(t, s) for t, s in zip(stream.times, stream.scores)] + [recognizer.finish()]
            heard[stream.name] = pd.DataFrame([(d.time_s, d.label) for d in found if d is not None],
                                              columns=["time_s", "label"])
        accepts = len(heard["words"]) + len(heard["talk"])
        assert row.false_accepts == accepts
        assert points.loc[row.Index, "false_accepts_per_hour.talk"] == pytest.approx(len(heard["talk"]) * 12.0)
        assert row.false_accepts_per_hour == pytest.approx(accepts / 900.0 * 3600.0)
        commands = score(made_up[2].labels, heard["commands"], 300.0)
        assert row.commands == 96
        assert (row.correct, row.wrong, row.not_found) == pytest.approx(
            (commands["correct"], commands["wrong"], commands["missed"]))
        assert row.missed == pytest.approx(1 - commands["correct"])
        assert row.false_per_hour_commands == pytest.approx(commands["false_per_hour"])
    # the made-up scores make a real trade: fewer false accepts and more misses as the threshold rises
    assert points["false_accepts"].iloc[0] > points["false_accepts"].iloc[-1] > 0
    assert points["missed"].iloc[0] < points["missed"].iloc[-1]


def test_the_lowest_threshold_meeting_a_false_accept_target(made_up):
    points = operating_points(made_up, LABELS, COMMANDS, CONFIG, THRESHOLDS)
    rates = points["false_accepts_per_hour"]
    target = float(rates.median())
    chosen = lowest_threshold(points, target)
    assert rates[points["threshold"] == chosen].iloc[0] <= target
    assert (rates[points["threshold"] < chosen] > target).all()
    assert lowest_threshold(points, float(rates.max())) == THRESHOLDS[0]
    assert lowest_threshold(points, -1.0) is None


# ---- the DET subcommand ---------------------------------------------------------------------------

def test_det_writes_one_curve_per_model_with_its_default(made_up, tmp_path, monkeypatch, capsys):
    streams = _streams()
    paths = {}
    for stream in made_up:  # stand-ins on disk for the names; their scores come from `load_scored`
        paths[stream.name] = tmp_path / f"{stream.name}.wav"
        paths[stream.name].touch()
    by_name = {stream.name: stream for stream in made_up}

    def load_scored(work_dir, files, engine, hop_ms, cache):
        assert hop_ms == CONFIG.listen_hop_ms
        sharper = work_dir.name == "sharp"  # the second model: the same scores, squared towards certainty
        scored = []
        for path in files:
            stream = by_name[path.stem]
            scores = stream.scores ** 2 / (stream.scores ** 2).sum(axis=1, keepdims=True) if sharper else stream.scores
            scored.append(dataclasses.replace(stream, scores=scores))
        return list(LABELS), list(COMMANDS), scored

    monkeypatch.setattr(streams, "load_scored", load_scored)
    # the listener's default pause marks windows from the audio: here every window is a whole word
    from competition.inference.config import InferenceConfig

    monkeypatch.setattr(InferenceConfig, "load", classmethod(lambda cls, path: types.SimpleNamespace(audio=None)))
    monkeypatch.setattr(streams, "window_marks",
                        lambda path, audio, hop_ms, pause: np.ones(len(by_name[path.stem].times), bool))
    out = tmp_path / "det"
    streams.main(["det", "--model", f"base={tmp_path / 'base'}", f"sharp={tmp_path / 'sharp'}",
                  "--negatives", str(paths["words"]), str(paths["talk"]), "--commands", str(paths["commands"]),
                  "--threshold", "0.5", "0.9", "--output", str(out)])
    table = pd.read_csv(out.with_suffix(".csv"))
    assert table.groupby("model")["threshold"].apply(list).to_dict() == {"base": [0.5, 0.7, 0.9],
                                                                         "sharp": [0.5, 0.7, 0.9]}
    assert table.loc[table["default"], "threshold"].tolist() == [0.7, 0.7]  # the default's threshold, added
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "base: default threshold 0.7:" in capsys.readouterr().out
    assert streams.plot_det(table, tmp_path / "again.png") == ["base", "sharp"]
    # an earlier table drawn beside a new model: its rows come back as they were, under their own label
    table[table["model"] == "base"].to_csv(tmp_path / "earlier.csv", index=False)
    streams.main(["det", "--model", f"new={tmp_path / 'sharp'}", "--negatives", str(paths["words"]),
                  str(paths["talk"]), "--commands", str(paths["commands"]), "--threshold", "0.5", "0.9",
                  "--against", str(tmp_path / "earlier.csv"), "--output", str(tmp_path / "both")])
    both = pd.read_csv(tmp_path / "both.csv")
    assert list(dict.fromkeys(both["model"])) == ["base", "new"]
    assert both[both["model"] == "base"].reset_index(drop=True).equals(table[table["model"] == "base"])
    sharp = table.loc[table["model"] == "sharp", "missed"]
    assert both.loc[both["model"] == "new", "missed"].tolist() == sharp.tolist()
    with pytest.raises(SystemExit, match="--against holds models named base too"):
        streams.main(["det", "--model", f"base={tmp_path / 'base'}", "--negatives", str(paths["words"]),
                      "--commands", str(paths["commands"]), "--against", str(tmp_path / "earlier.csv"),
                      "--output", str(tmp_path / "clash")])
    with pytest.raises(SystemExit, match="their labels hold commands"):
        streams.main(["det", "--model", f"base={tmp_path / 'base'}", "--negatives", str(paths["commands"]),
                      "--commands", str(paths["commands"]), "--output", str(out)])
    # a line per pause; windows never marked whole (talk that never pauses) start no detection
    monkeypatch.setattr(streams, "window_marks",
                        lambda path, audio, hop_ms, pause: np.zeros(len(by_name[path.stem].times), bool))
    streams.main(["det", "--model", f"base={tmp_path / 'base'}", "--negatives", str(paths["words"]),
                  str(paths["talk"]), "--commands", str(paths["commands"]), "--threshold", "0.5", "0.9",
                  "--pause-ms", "0", "150", "--output", str(tmp_path / "pauses")])
    pauses = pd.read_csv(tmp_path / "pauses.csv")
    assert list(dict.fromkeys(pauses["model"])) == ["base pause 0 ms", "base pause 150 ms"]
    assert pauses.loc[pauses["model"] == "base pause 0 ms", "missed"].tolist() == table.loc[
        table["model"] == "base", "missed"].tolist()
    never = pauses[pauses["model"] == "base pause 150 ms"]
    assert (never["false_accepts_per_hour"] == 0).all() and (never["missed"] == 1).all()


# ---- the operating stage and the threshold it hands --listen ----------------------------------------

def _rows(*rates):
    return [{"threshold": t, "false_accepts_per_hour": r, "missed": t / 2, "negative_hours": 0.5}
            for t, r in zip((0.5, 0.7, 0.9), rates)]


def test_choose_takes_the_lowest_threshold_that_keeps_to_the_target():
    assert choose(_rows(30.0, 8.0, 1.0), 10.0).threshold == 0.7
    assert choose(_rows(30.0, 8.0, 1.0), 10.0).met
    assert choose(_rows(5.0, 8.0, 1.0), 10.0).threshold == 0.5  # not the lowest rate: the lowest threshold


def test_where_no_threshold_keeps_to_the_target_choose_takes_the_fewest_and_says_so():
    point = choose(_rows(30.0, 12.0, 12.0), 2.0)
    assert (point.threshold, point.met) == (0.7, False)
    assert "no threshold kept to 2 false accepts an hour" in point.describe()


def test_the_operating_stage_writes_the_table_listen_chooses_from(finished_run):
    paths, settings = finished_run
    points = pd.read_csv(paths.operating_points)
    assert points["threshold"].is_monotonic_increasing and len(points) > 20
    # 4 minutes of negative streams: words, talk and noise in their shares, each within a clip's length
    assert points["negative_hours"].iloc[0] * 60 == pytest.approx(settings.operating_minutes, abs=0.1)
    assert points["missed"].between(0, 1).all() and (points["false_accepts_per_hour"] >= 0).all()
    assert {f"false_accepts_per_hour.{kind}" for kind in ("words", "talk", "noise")} <= set(points.columns)
    assert (points["listen_hop_ms"] == settings.listen_hop_ms).all()
    assert (points["listen_pause_ms"] == settings.listen_pause_ms).all() and settings.listen_pause_ms > 0
    assert paths.operating_plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resolve_uses_the_given_threshold_else_the_table_else_the_unmeasured_default(finished_run, tmp_path, caplog):
    paths, _ = finished_run
    given = project(ListenConfig, Settings(listen_threshold=0.42))
    assert resolve(given, paths.operating_points) == (given, "threshold 0.42 (--listen-threshold)")
    rows = read_points(paths.operating_points)
    for target in (0.0, 1e9):
        config, said = resolve(project(ListenConfig, Settings(false_accepts_per_hour=target)), paths.operating_points)
        assert config.listen_threshold == choose(rows, target).threshold
        assert said == choose(rows, target).describe()
    assert resolve(project(ListenConfig, Settings(false_accepts_per_hour=1e9)),
                   paths.operating_points)[0].listen_threshold == rows[0]["threshold"]
    config, said = resolve(project(ListenConfig, Settings()), tmp_path / "none.csv")
    assert config.listen_threshold == UNMEASURED_THRESHOLD and "never measured" in said
    # points measured with another recogniser still choose, with a warning that they may not hold
    resolve(project(ListenConfig, Settings(listen_hop_ms=100)), paths.operating_points)
    assert "measured with another recogniser (--listen-hop-ms 200 there, 100 here)" in caplog.text


def test_a_table_from_before_the_pause_setting_was_measured_without_one(finished_run, tmp_path, caplog):
    paths, _ = finished_run
    older = tmp_path / "points.csv"
    pd.read_csv(paths.operating_points).drop(columns="listen_pause_ms").to_csv(older, index=False)
    assert {row["listen_pause_ms"] for row in read_points(older)} == {0.0}
    resolve(project(ListenConfig, Settings(listen_pause_ms=0)), older)
    assert "another recogniser" not in caplog.text
    resolve(project(ListenConfig, Settings(listen_pause_ms=150)), older)
    assert "(--listen-pause-ms 0 there, 150 here)" in caplog.text


def test_a_table_that_is_not_operating_points_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "points.csv"
    bad.write_text("threshold,missed\n0.5,0.1\n")
    with pytest.raises(PipelineError, match=r"points\.csv: expected a table of operating points"):
        read_points(bad)
