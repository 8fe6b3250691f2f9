"""Streaming: the block-wise pieces against their whole-signal equivalents, the recogniser on
made-up scores, the stream benchmark's matching rule on cases with known answers, and --listen
end to end with the model trained once on the tiny competition."""
import io
import re

import numpy as np
import pandas as pd
import pytest
import scipy.signal
import soundfile
from conftest import load_benchmark, spy_on_recognizer

import run
from competition.core.config import ListenConfig, Settings, project
from competition.core.labels import COMMANDS, LABELS
from competition.device.listening import batches
from competition.device.recognizer import Recognizer, Windows, whole_words
from competition.device.resample import StreamResampler
from competition.device.sources import pcm_blocks
from competition.frontend.audio import AudioError
from competition.streaming.listen import Listener
from competition.streaming.sources import open_source


def _streams():
    return load_benchmark("streams")


def _blocks(x: np.ndarray, rng: np.random.Generator, most: int = 5000):
    at = 0
    while at < len(x):
        size = int(rng.integers(1, most))
        yield x[at:at + size]
        at += size


# ---- the resampler, the windows and standard input ----------------------------------------------

@pytest.mark.parametrize("rate", [44_100, 48_000, 22_050, 8_000, 16_000])
def test_block_wise_resampling_equals_resampling_the_whole_signal(rate):
    rng = np.random.default_rng(rate)
    x = rng.normal(0, 0.2, 2 * rate + 37).astype(np.float32)
    whole = scipy.signal.resample_poly(x.astype(np.float64), 16_000, rate)
    resampler = StreamResampler(rate, 16_000)
    pieces = [resampler.process(block) for block in _blocks(x, rng)] + [resampler.flush()]
    blocks = np.concatenate(pieces)
    assert len(blocks) == len(whole)
    assert np.abs(blocks - whole).max() < 1e-6  # float32 arithmetic against scipy's float64


def test_the_resampler_holds_one_filter_length_however_long_the_input():
    resampler = StreamResampler(44_100, 16_000)
    held = []
    for _ in range(30):  # 30 s of audio, in one-second blocks
        resampler.process(np.zeros(44_100, np.float32))
        held.append(len(resampler.history))
    assert max(held) == held[0] <= resampler.width + 3


def test_windows_are_the_whole_signal_sliced_every_hop_whatever_the_blocks():
    rng = np.random.default_rng(0)
    x = rng.normal(size=5_000).astype(np.float32)
    windows = Windows(length=1_000, hop=300)
    ends, cut = zip(*(windows.push(block) for block in _blocks(x, rng, 700)))
    ends, cut = np.concatenate(ends), np.concatenate(cut)
    assert ends.tolist() == list(range(1_000, 5_001, 300))
    assert all(np.array_equal(window, x[end - 1_000:end]) for end, window in zip(ends, cut))
    assert len(windows.buffer) < 1_000 + 700  # at most one window and one block held


def test_a_recording_shorter_than_a_window_gets_one_padded_with_silence():
    windows = Windows(length=1_000, hop=100)
    assert len(windows.push(np.ones(400, np.float32))[0]) == 0
    ends, cut = windows.finish()
    assert ends.tolist() == [1_000] and cut[0, :400].sum() == 400 and not cut[0, 400:].any()


def test_standard_input_is_16_bit_little_endian_pcm_read_as_it_arrives():
    samples = np.array([0, 1, -1, 32767, -32768, 1234, -4321], np.int16)
    data = samples.astype("<i2").tobytes()

    class Trickle(io.RawIOBase):  # a pipe that hands over 3 bytes at a time: samples split across reads
        def __init__(self):
            self.at = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = data[self.at:self.at + min(3, len(buffer))]
            buffer[:len(chunk)] = chunk
            self.at += len(chunk)
            return len(chunk)

    blocks = list(pcm_blocks(Trickle()))
    assert len(blocks) > 1
    assert np.array_equal(np.concatenate(blocks), samples / np.float32(32768))
    source = open_source("-", io.BytesIO(data))
    assert source.rate == 16_000 and source.seconds is None


def test_a_bad_source_is_refused_with_its_name(tmp_path):
    with pytest.raises(AudioError, match=re.escape(f"{tmp_path / 'missing.wav'}: no such file")):
        open_source(tmp_path / "missing.wav")
    (tmp_path / "notes.wav").write_text("this is not audio")
    with pytest.raises(AudioError, match=re.escape(f"{tmp_path / 'notes.wav'}: not a readable audio file")):
        open_source(tmp_path / "notes.wav")
    with pytest.raises(AudioError, match="not a file"):
        open_source(tmp_path)
    nan = np.zeros(40_000, np.float32)
    nan[30_000] = np.nan  # in the second block: found as it is read
    soundfile.write(tmp_path / "nan.wav", nan, 16_000, subtype="FLOAT")
    source = open_source(tmp_path / "nan.wav")
    with pytest.raises(AudioError, match=re.escape(f"{tmp_path / 'nan.wav'}: NaN or infinite samples near")):
        list(source.blocks)


def test_a_terminal_on_standard_input_is_refused(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    with pytest.raises(AudioError, match="standard input is a terminal; expected raw 16 kHz 16-bit mono PCM"):
        open_source("-")


def test_windows_go_to_the_model_in_at_most_five_batch_shapes():
    for count in range(1, 100):
        parts = batches(count)
        assert [start for start, _ in parts] == list(np.cumsum([0] + [size for _, size in parts])[:-1])
        assert sum(size for _, size in parts) == count
        assert {size for _, size in parts} <= {1, 2, 4, 8, 16}


# ---- the recogniser on made-up scores -----------------------------------------------------------

def _scores(rows: list[tuple[str, float]]) -> np.ndarray:
    """One row per window: `label` at `p`, the rest of the mass on silence."""
    out = np.zeros((len(rows), len(LABELS)))
    for i, (label, p) in enumerate(rows):
        out[i, LABELS.index("silence")] = 1 - p
        out[i, LABELS.index(label)] += p
    return out


def _run(rows, **options):
    settings = {"average": 1, "threshold": 0.7, "suppression_s": 1.0, **options}
    recognizer = Recognizer(LABELS, COMMANDS, **settings)
    times = 0.1 * np.arange(1, len(rows) + 1)
    found = list(recognizer.run(times, _scores(rows)))
    if (last := recognizer.finish()) is not None:
        found.append(last)
    return [(round(d.time_s, 3), d.label, round(d.confidence, 3)) for d in found]


def test_averaging_ignores_a_one_window_flicker_and_reports_a_word_that_stays():
    flicker = [("silence", 1.0)] * 3 + [("yes", 0.9)] + [("silence", 1.0)] * 3
    assert _run(flicker) == [(0.4, "yes", 0.9)]      # without averaging: reported
    assert _run(flicker, average=3) == []             # averaged over three windows: 0.3
    word = [("silence", 1.0)] * 3 + [("yes", 0.9)] * 4 + [("silence", 1.0)] * 3
    assert _run(word, average=3) == [(0.6, "yes", 0.9)]  # the third window of the word


def test_suppression_reports_a_long_word_once_per_suppression_time():
    long_word = [("no", 0.95)] * 25  # 2.5 s above the threshold
    assert [t for t, _, _ in _run(long_word, suppression_s=1.0)] == [0.1, 1.1, 2.1]
    assert [t for t, _, _ in _run(long_word, suppression_s=3.0)] == [0.1]
    # suppression holds whatever the label: a word that drifts from "no" to "go" is one detection
    assert _run([("no", 0.9)] * 3 + [("go", 0.9)] * 3) == [(0.1, "no", 0.9)]


def test_silence_and_unknown_are_never_reported_however_sure():
    assert _run([("silence", 1.0)] * 5 + [("unknown", 0.99)] * 5) == []
    assert _run([("yes", 0.69)] * 5) == []  # below the threshold
    assert _run([("yes", 0.7)]) == [(0.1, "yes", 0.7)]  # at it


def test_waiting_for_the_peak_reports_the_label_at_the_peak():
    rising = [("off", 0.72), ("up", 0.8), ("up", 0.95), ("up", 0.9), ("silence", 1.0)]
    assert _run(rising) == [(0.1, "off", 0.72)]                  # at once: the half-heard word
    assert _run(rising, peak=4) == [(0.4, "up", 0.95)]           # one window past the peak
    assert _run(rising, peak=1) == [(0.2, "up", 0.8)]            # waits at most one window
    assert _run([("yes", 0.8)] * 2, peak=5) == [(0.2, "yes", 0.8)]  # a flat score is its own peak
    assert _run([("silence", 1.0), ("yes", 0.8), ("yes", 0.9)], peak=5) == [(0.3, "yes", 0.9)]  # stream ends


def test_the_settings_become_windows_the_hop_apart():
    config = project(ListenConfig, Settings(listen_hop_ms=200, listen_average_ms=500, listen_peak_ms=300,
                                            listen_suppression_ms=1250, listen_threshold=0.6))
    recognizer = Recognizer.configured(LABELS, COMMANDS, config)
    assert (recognizer.average, recognizer.peak, recognizer.suppression_s, recognizer.threshold) == (2, 1, 1.25, 0.6)
    short = project(ListenConfig, Settings(listen_hop_ms=200, listen_average_ms=100, listen_peak_ms=0))
    recognizer = Recognizer.configured(LABELS, COMMANDS, short)
    assert (recognizer.average, recognizer.peak) == (1, 0)  # at least one window; no wait


# ---- the benchmark's matching rule --------------------------------------------------------------

def _score(onsets, detections, seconds=60.0):
    streams = _streams()
    labels = pd.DataFrame(onsets, columns=["time_s", "label"])
    found = pd.DataFrame(detections, columns=["time_s", "label"])
    result = streams.score(labels, found, seconds)
    return (result["correct"], result["wrong"], result["missed"], result["false_per_min"])


def test_a_detection_matches_a_command_up_to_exactly_1_75_s_after_its_onset():
    assert _score([(10.0, "yes")], [(11.75, "yes")]) == (1.0, 0.0, 0.0, 0.0)
    assert _score([(10.0, "yes")], [(10.0, "yes")]) == (1.0, 0.0, 0.0, 0.0)   # at the onset: not after it
    assert _score([(10.0, "yes")], [(11.76, "yes")]) == (0.0, 0.0, 1.0, 1.0)  # too late: missed, and false
    assert _score([(10.0, "yes")], [(9.9, "yes")]) == (0.0, 0.0, 1.0, 1.0)    # before the onset


def test_each_command_and_each_detection_is_matched_once():
    # a double detection: the second is false
    assert _score([(10.0, "yes")], [(10.5, "yes"), (11.0, "yes")]) == (1.0, 0.0, 0.0, 1.0)
    # one detection between two commands, in reach of both: one command found, the other missed;
    # the one it names is the one it matches
    assert _score([(10.0, "no"), (11.0, "go")], [(11.5, "go")]) == (0.5, 0.0, 0.5, 0.0)
    # two detections in reach of two commands: both matched, correctly named where possible
    assert _score([(10.0, "no"), (11.0, "go")], [(11.2, "go"), (11.7, "no")]) == (1.0, 0.0, 0.0, 0.0)
    # the most matches first: the late detection can only take the second command
    assert _score([(10.0, "no"), (11.0, "go")], [(11.5, "no"), (12.7, "no")]) == (0.5, 0.5, 0.0, 0.0)


def test_wrong_names_distractors_and_false_detections_per_minute():
    onsets = [(1.0, "yes"), (4.0, "unknown"), (7.0, "silence"), (10.0, "left")]
    detections = [(1.8, "no"), (4.9, "up"), (10.6, "left"), (20.0, "off")]
    # the detection after the unknown word matches no command: false, like the one at 20 s
    assert _score(onsets, detections, seconds=30.0) == (0.5, 0.5, 0.0, 4.0)


def test_score_lists_the_wrong_names_with_their_delay_and_confidence(tmp_path, capsys):
    streams = _streams()
    labels = pd.DataFrame([(1.0, "yes"), (4.0, "unknown"), (10.0, "left"), (13.0, "up")], columns=["time_s", "label"])
    detections = pd.DataFrame([(1.8, "no", 0.75), (4.9, "up", 0.9), (10.6, "left", 0.99), (13.5, "off", 0.8)],
                              columns=["time_s", "label", "confidence"])
    pairs = streams.matched(labels, detections)
    assert pairs[["label", "found"]].values.tolist() == [["yes", "no"], ["left", "left"], ["up", "off"]]
    assert np.allclose(pairs["delay_s"], [0.8, 0.6, 0.5]) and np.allclose(pairs["confidence"], [0.75, 0.99, 0.8])
    assert streams.matched(labels, detections.drop(columns="confidence"))["confidence"].isna().all()
    labels.to_csv(tmp_path / "s.labels.csv", index=False)
    detections.to_csv(tmp_path / "s.csv", index=False)
    streams.main(["score", "--labels", str(tmp_path / "s.labels.csv"), "--detections", str(tmp_path / "s.csv"),
                  "--seconds", "60", "--wrong"])
    out = capsys.readouterr().out
    assert "3 commands, 4 detections: 33.3% correct, 66.7% wrong name, 0.0% missed" in out
    wrong_lines = out.splitlines()[-2:]
    assert "2 wrong names:" in out and wrong_lines[0].split()[:4] == ["1.00", "yes", "1.80", "no"]
    assert wrong_lines[1].split() == ["13.00", "up", "13.50", "off", "0.50", "0.80"]


def test_the_generator_places_clips_at_their_labelled_onsets(tmp_path):
    streams = _streams()
    rate = 16_000
    clips = tmp_path / "clips"
    clips.mkdir()
    rows = []
    for i, label in enumerate(["yes", "no", "unknown", "silence"] * 3):
        click = np.zeros(rate // 2, np.float32)
        click[0] = 0.9  # the clip's first sample marks its onset in the stream
        soundfile.write(clips / f"c{i}.wav", click, rate)
        rows.append((f"c{i}.wav", label))
    noise = tmp_path / "noise"
    noise.mkdir()
    soundfile.write(noise / "hum.wav", 0.01 * np.sin(np.arange(30 * rate) / 7).astype(np.float32), rate)
    solution = pd.DataFrame(rows, columns=["fname", "label"])
    samples, labels = streams.make_stream(solution, clips, noise, minutes=0.5, seed=3, noise_dbfs=-60)
    again, same = streams.make_stream(solution, clips, noise, minutes=0.5, seed=3, noise_dbfs=-60)
    assert np.array_equal(samples, again) and labels.equals(same)  # seeded
    assert len(samples) == 30 * rate and len(labels) == 12
    assert np.all(np.diff(labels["time_s"]) >= 0.5 + 0.5)  # half-second clips, gaps of at least 0.5 s
    for onset in labels["time_s"]:
        assert samples[round(onset * rate)] > 0.85
    bed = np.sqrt(np.mean(np.square(samples[: round(labels["time_s"].iloc[0] * rate)])))
    assert abs(20 * np.log10(bed) - (-60)) < 1.0  # the stated level


# ---- --listen end to end ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stream(finished_run, tiny_competition, tmp_path_factory):
    """Half a minute of the demo's test clips over its noise, at 16 kHz."""
    streams = _streams()
    paths, _ = finished_run
    solution = pd.read_csv(tiny_competition / "demo_solution.csv", keep_default_na=False)
    samples, labels = streams.make_stream(solution[["fname", "label"]], paths.test_audio_dir,
                                          paths.train_audio_dir / "_background_noise_", minutes=0.5, seed=0)
    path = tmp_path_factory.mktemp("stream") / "stream.wav"
    streams.write_stream(path, samples, labels)
    return path


# One epoch of training on the tiny competition gives a model that is not sure of anything: a
# threshold of 0 makes it report a command every suppression time, which is what these tests need.
ANY = ["--listen-threshold", "0"]


def _config(**settings) -> ListenConfig:
    return project(ListenConfig, Settings(listen_threshold=0.0, **settings))


def test_listen_prints_and_writes_each_command_found(finished_run, stream, tmp_path, capsys):
    paths, _ = finished_run
    out = tmp_path / "found.csv"
    assert run.main(["--work-dir", str(paths.work_dir), "--listen", str(stream), "--detections", str(out), *ANY]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["time_s", "label", "confidence", "threshold"]
    assert not out.with_name("found.csv.partial").exists()
    assert (table["threshold"] == 0.0).all()
    assert len(table) == len(lines) > 10
    assert set(table["label"]) <= set(COMMANDS)
    assert table["time_s"].is_monotonic_increasing and table["time_s"].between(1.0, 30.0).all()
    assert np.all(np.diff(table["time_s"]) >= Settings().listen_suppression_ms / 1000 - 1e-9)
    assert table["confidence"].between(0.0, 1.0).all()
    for line, row in zip(lines, table.itertuples()):
        time_s, _, label, confidence = line.split()
        assert (float(time_s), label, float(confidence)) == pytest.approx((row.time_s, row.label, row.confidence),
                                                                          abs=0.01)


def _heard(paths, source, monkeypatch, stdin=None, predictor=None, **settings):
    """(times, scores) the recogniser was given, window by window, and the detections."""
    seen = spy_on_recognizer(monkeypatch)
    found = [(d.time_s, d.label, d.confidence)
             for d in Listener(paths, _config(**settings), source, stdin, predictor).run()]
    monkeypatch.undo()
    return np.array([t for t, _ in seen]), np.stack([s for _, s in seen]), found


def test_listening_block_by_block_scores_the_windows_of_the_whole_recording(finished_run, stream, monkeypatch):
    from competition.inference.predictor import Predictor

    paths, _ = finished_run
    times, scores, found = _heard(paths, stream, monkeypatch, listen_hop_ms=250)
    samples, _ = soundfile.read(stream, dtype="float32")
    ends = np.arange(16_000, len(samples) + 1, 4_000)
    whole = Predictor.load(paths, "keras", listening=True).probabilities_of_clips(
        np.stack([samples[e - 16_000:e] for e in ends]), shifts=(0,))
    assert np.allclose(times, ends / 16_000)
    # The listening head's Mahalanobis terms magnify the float32 differences between oneDNN's kernels for
    # different batch sizes (one score of 1,404 off by 1e-3 on an AVX-512 EPYC); a misaligned window is off by more.
    np.testing.assert_allclose(scores, whole, rtol=1e-2, atol=1e-5)
    assert found


def test_only_windows_holding_a_whole_word_start_a_detection(finished_run, stream, monkeypatch):
    from competition.device import listening

    paths, _ = finished_run
    asked = []

    def never_whole(windows, rate, pause_ms):
        asked.append((len(windows), rate, pause_ms))
        return np.zeros(len(windows), bool)

    monkeypatch.setattr(listening, "whole_words", never_whole)
    assert list(Listener(paths, _config(listen_pause_ms=150), stream).run()) == []
    assert sum(n for n, _, _ in asked) == 1 + (30 * 16_000 - 16_000) // 3_200 and {a[1:] for a in asked} == {
        (16_000, 150)}
    asked.clear()
    assert list(Listener(paths, _config(listen_pause_ms=0), stream).run()) and asked == []  # 0: not asked


def test_standard_input_gives_what_the_file_gives(finished_run, stream, monkeypatch):
    paths, _ = finished_run
    pcm = soundfile.read(stream, dtype="int16")[0].astype("<i2").tobytes()
    file_times, file_scores, from_file = _heard(paths, stream, monkeypatch)
    stdin_times, stdin_scores, from_stdin = _heard(paths, "-", monkeypatch, io.BytesIO(pcm))
    assert np.array_equal(file_times, stdin_times) and np.allclose(file_scores, stdin_scores, atol=1e-6)
    assert from_stdin == from_file and from_file


def test_a_stereo_44_khz_file_is_heard_like_the_16_khz_one(finished_run, stream, tmp_path, monkeypatch):
    """On the model's own probabilities: the listening head's odds of this one-epoch model are all 0 or 1,
    and flip with any change of the input."""
    from competition.inference.predictor import Predictor

    paths, _ = finished_run
    plain = Predictor.load(paths, "keras")
    samples, _ = soundfile.read(stream, dtype="float32")
    loud = scipy.signal.resample_poly(samples, 441, 160)
    soundfile.write(tmp_path / "stereo.wav", np.stack([loud, loud], axis=1), 44_100, subtype="FLOAT")
    stereo_times, stereo_scores, _ = _heard(paths, tmp_path / "stereo.wav", monkeypatch, predictor=plain)
    mono_times, mono_scores, _ = _heard(paths, stream, monkeypatch, predictor=plain)
    # up to 44.1 kHz and down again is not the identity (a low-pass at 8 kHz), but nearly
    assert np.array_equal(stereo_times, mono_times)
    assert np.abs(stereo_scores - mono_scores).max() < 0.02


def test_a_crash_leaves_only_the_partial_detections(finished_run, stream, tmp_path, monkeypatch, capsys):
    paths, _ = finished_run
    out = tmp_path / "found.csv"
    calls = []

    def fail_on_the_third_block(self, ends, windows):
        calls.append(len(ends))
        if len(calls) == 3:
            raise RuntimeError("the engine fell over")
        return iter(())

    monkeypatch.setattr(Listener, "_detect", fail_on_the_third_block)
    with pytest.raises(RuntimeError):
        run.main(["--work-dir", str(paths.work_dir), "--listen", str(stream), "--detections", str(out)])
    assert not out.exists()
    assert out.with_name("found.csv.partial").read_text().startswith("time_s,label,confidence,threshold\n")


@pytest.mark.parametrize("argv, message", [
    (["--listen", "{tmp}/missing.wav"], "error: {tmp}/missing.wav: no such file"),
    (["--listen", "{tmp}/notes.wav"], "error: {tmp}/notes.wav: not a readable audio file"),
    (["--detections", "{tmp}/x.csv"], "error: --detections only applies to --listen"),
], ids=["missing", "not-audio", "detections-alone"])
def test_listen_errors_name_the_file(finished_run, tmp_path, capsys, argv, message):
    paths, _ = finished_run
    (tmp_path / "notes.wav").write_text("this is not audio")
    argv = [part.format(tmp=tmp_path) for part in argv]
    assert run.main(["--work-dir", str(paths.work_dir), *argv]) in (1, 2)
    assert capsys.readouterr().err.strip().startswith(message.format(tmp=tmp_path))


def test_listen_without_a_trained_model_says_to_train_first(tmp_path, capsys):
    clip = tmp_path / "a.wav"
    soundfile.write(clip, np.zeros(16_000, np.int16), 16_000)
    assert run.main(["--work-dir", str(tmp_path / "empty"), "--listen", str(clip)]) == 1
    assert re.search(r"error: .*predict_config.json is missing: run --stage train first", capsys.readouterr().err)


def test_the_stream_benchmark_listens_without_tensorflows_notices(finished_run, stream, tmp_path):
    """benchmarks/streams.py loads TensorFlow in its own process: the C++ runtime's notices (absl's,
    oneDNN's, CUDA's) are kept out of its output as they are out of run.py's."""
    import subprocess
    import sys
    from pathlib import Path

    paths, _ = finished_run
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "streams.py"
    done = subprocess.run([sys.executable, str(script), "listen", "--work-dir", str(paths.work_dir), "--stream",
                           str(stream), "--detections", str(tmp_path / "found.csv")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "real time" in done.stdout and (tmp_path / "found.csv").exists()
    notices = [line for line in done.stderr.splitlines() if re.match(r"WARNING: All log|[IWEF]\d{4} ", line)]
    assert notices == [], notices


# ---- the whole-word mark ------------------------------------------------------------------------

def _window(sounds: list[tuple[float, float]], rng: np.random.Generator, rate: int = 16_000) -> np.ndarray:
    """One second of quiet noise (-50 dBFS) with loud noise (-20 dBFS) over each (start_s, end_s)."""
    x = rng.normal(0, 10 ** (-50 / 20), rate)
    for start, end in sounds:
        x[int(start * rate):int(end * rate)] += rng.normal(0, 0.1, int(end * rate) - int(start * rate))
    return x.astype(np.float32)


def test_a_word_with_quiet_on_both_sides_is_whole_and_connected_speech_is_not():
    rng = np.random.default_rng(0)
    windows = np.stack([_window(sounds, rng) for sounds in (
        [(0.3, 0.7)],                  # a word in the middle
        [(0.0, 0.5)],                  # cut by the window's start
        [(0.5, 1.0)],                  # cut by its end
        [(0.05, 0.95)],                # speech from end to end
        [(0.2, 0.5), (0.55, 0.95)],    # two words 50 ms apart: one sound that reaches the end
        [(0.05, 0.25), (0.45, 0.75)],  # a cut word, then a whole one 200 ms later
        [],                            # quiet
    )])
    assert whole_words(windows, 16_000, 100).tolist() == [True, False, False, False, False, True, False]
    # asked for 30 ms, the 50 ms between the two words is a pause, and the first word is whole
    assert whole_words(windows[4:5], 16_000, 30).tolist() == [True]


def test_the_mark_does_not_depend_on_the_level():
    rng = np.random.default_rng(1)
    window = _window([(0.3, 0.7)], rng)
    assert whole_words(np.stack([window, window * 0.01]), 16_000, 100).tolist() == [True, True]


def test_only_a_command_among_windows_marked_whole_is_reported():
    rows = [("silence", 1.0)] * 3 + [("yes", 0.9)] * 4 + [("silence", 1.0)] * 3
    marks = [False] * len(rows)
    recognizer = Recognizer(LABELS, COMMANDS, average=3, threshold=0.7, suppression_s=1.0)
    assert list(recognizer.run(0.1 * np.arange(1, 11), _scores(rows), marks)) == []
    # one marked window among the three averaged is enough; the same word a window earlier is not
    marks[4] = True
    recognizer = Recognizer(LABELS, COMMANDS, average=3, threshold=0.7, suppression_s=1.0)
    assert [d.time_s for d in recognizer.run(0.1 * np.arange(1, 11), _scores(rows), marks)] == [pytest.approx(0.6)]
    marks = [False] * 4 + [True] + [False] * 5
    recognizer = Recognizer(LABELS, COMMANDS, average=1, threshold=0.7, suppression_s=1.0)
    assert [d.time_s for d in recognizer.run(0.1 * np.arange(1, 11), _scores(rows), marks)] == [pytest.approx(0.5)]
