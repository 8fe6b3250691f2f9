"""--classify: label recordings (WAV, FLAC, OGG) with the model trained once on the tiny competition."""
import re

import numpy as np
import pandas as pd
import scipy.io.wavfile
import scipy.signal

import run
from competition.core.labels import LABELS
from competition.predict.classify import classify

LINE = re.compile(r"^(?P<path>.+?): (?:(?P<how>[^:]+): )?(?P<label>\w+) \((?P<top>.+)\)$")


def _odd_versions(source, folder):
    """The same recording as a 44.1 kHz stereo file of 2.5 s, and as a 0.4 s 8 kHz file."""
    rate, samples = scipy.io.wavfile.read(source)
    samples = samples.astype(np.float32) / 32768
    loud = scipy.signal.resample_poly(samples, 441, 160)
    stereo = np.stack([np.pad(loud, (0, int(2.5 * 44_100) - len(loud)))] * 2, axis=1)
    scipy.io.wavfile.write(folder / "stereo_44k.wav", 44_100, stereo.astype(np.float32))
    scipy.io.wavfile.write(folder / "short_8k.wav", 8_000,
                           (scipy.signal.resample_poly(samples, 1, 2)[:3_200] * 32767).astype(np.int16))
    return [folder / "stereo_44k.wav", folder / "short_8k.wav"]


def _parse(line: str) -> tuple[str, str, list[tuple[str, float]]]:
    path, _, label, top = _parse_how(line)
    return path, label, top


def _parse_how(line: str) -> tuple[str, str | None, str, list[tuple[str, float]]]:
    """(path, what was classified when not simply the clip, label, top three)."""
    match = LINE.match(line)
    assert match, line
    top = [(label, float(p)) for label, p in (item.split() for item in match["top"].split(", "))]
    return match["path"], match["how"], match["label"], top


def test_prints_a_label_and_the_top_three_for_any_rate_channels_and_length(finished_run, tmp_path, capsys):
    paths, _ = finished_run
    files = [sorted(paths.test_audio_dir.glob("*.wav"))[0],
             *_odd_versions(sorted(paths.test_audio_dir.glob("*.wav"))[0], tmp_path)]
    assert run.main(["--work-dir", str(paths.work_dir), "--classify", *map(str, files)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    hows = [_parse_how(line)[1] for line in lines]
    assert hows[0] is None  # a one-second clip is classified as it is
    assert re.fullmatch(r"2\.50 s long, loudest second at \d\.\d\d s", hows[1])
    assert hows[2] == "0.40 s long, padded to one second"
    for line, file in zip(lines, files):
        path, label, top = _parse(line)
        assert path == str(file) and label in LABELS
        assert len(top) == 3 and {name for name, _ in top} <= set(LABELS)
        probabilities = [p for _, p in top]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.001


def test_a_bad_file_is_reported_and_the_others_still_classified(finished_run, tmp_path, capsys):
    paths, _ = finished_run
    good = sorted(paths.test_audio_dir.glob("*.wav"))[:2]
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    missing = tmp_path / "missing.wav"
    code = run.main(["--work-dir", str(paths.work_dir), "--classify",
                     str(good[0]), str(bad), str(missing), str(good[1])])
    captured = capsys.readouterr()
    assert code == 1
    assert [_parse(line)[0] for line in captured.out.splitlines()] == [str(good[0]), str(good[1])]
    errors = captured.err.strip().splitlines()
    assert errors[0].startswith(f"error: {bad}: not a readable audio file")
    assert errors[1] == f"error: {missing}: no such file"
    assert errors[2] == "error: 2 of 4 files could not be classified"


def test_classify_agrees_with_the_predict_stage(finished_run):
    paths, settings = finished_run
    submission = pd.read_csv(paths.output).set_index("fname")
    files = sorted(paths.test_audio_dir.glob("*.wav"))[:12]
    labels = [result.label for result in classify(paths, settings, files)]
    assert labels == [submission.loc[f.name, "label"] for f in files]


def test_flac_and_ogg_give_the_label_the_wav_gives(finished_run, tmp_path):
    import soundfile

    paths, settings = finished_run
    source = sorted(paths.test_audio_dir.glob("*.wav"))[0]
    samples, rate = soundfile.read(source, dtype="int16")
    soundfile.write(tmp_path / "same.flac", samples, rate)  # lossless: the same samples
    soundfile.write(tmp_path / "same.ogg", samples, rate, format="OGG", subtype="VORBIS")
    results = list(classify(paths, settings, [source, tmp_path / "same.flac", tmp_path / "same.ogg"]))
    assert all(result.error is None for result in results)
    assert results[1].top == results[0].top  # identical probabilities
    assert results[2].label in LABELS


def test_without_a_trained_model_it_says_to_train_first(tmp_path, capsys):
    clip = tmp_path / "a.wav"
    scipy.io.wavfile.write(clip, 16_000, np.zeros(16_000, np.int16))
    assert run.main(["--work-dir", str(tmp_path / "empty"), "--classify", str(clip)]) == 1
    assert re.search(r"error: .*predict_config.json is missing: run --stage train first", capsys.readouterr().err)


def _with_a_word_at(clip, seconds: float, at: float, folder, name="long.wav"):
    """A recording of `seconds` of faint noise with the clip's word starting `at` seconds in."""
    rate, samples = scipy.io.wavfile.read(clip)
    noise = (np.random.default_rng(0).normal(0, 30, int(seconds * rate))).astype(np.int16)
    start = int(at * rate)
    noise[start:start + len(samples)] = samples
    scipy.io.wavfile.write(folder / name, rate, noise)
    return folder / name


def _loudest_clip(paths):
    """The test clip with the most energy, so it stands out of the noise."""
    def energy(path):
        return float(np.square(scipy.io.wavfile.read(path)[1].astype(np.float64)).sum())
    return max(sorted(paths.test_audio_dir.glob("*.wav"))[:10], key=energy)


def test_a_long_recording_is_classified_by_its_loudest_second_and_says_so(finished_run, tmp_path):
    paths, settings = finished_run
    clip = _loudest_clip(paths)
    long = _with_a_word_at(clip, 3.2, 1.4, tmp_path)
    [result] = classify(paths, settings, [long])
    assert result.window == "loudest" and result.duration_s == 3.2
    assert abs(result.start_s - 1.4) <= 0.05  # where the word was put, within the 10 ms grid and the clip's edges
    assert result.line().startswith(f"{long}: 3.20 s long, loudest second at {result.start_s:.2f} s: ")
    [alone] = classify(paths, settings, [clip])
    assert result.label == alone.label


def test_every_second_gives_one_line_per_second(finished_run, tmp_path, capsys):
    paths, _ = finished_run
    long = _with_a_word_at(_loudest_clip(paths), 2.5, 1.0, tmp_path)
    table = tmp_path / "out" / "classified.csv"
    assert run.main(["--work-dir", str(paths.work_dir), "--classify", str(long),
                     "--classify-long", "every-second", "--classify-csv", str(table)]) == 0
    hows = [_parse_how(line)[1] for line in capsys.readouterr().out.splitlines()]
    assert hows == [f"2.50 s long, second at {start:.2f} s" for start in (0, 1, 2)]
    rows = pd.read_csv(table, keep_default_na=False)
    assert list(rows.columns) == ["path", "duration_s", "window", "start_s", "label", "confidence", "error"]
    assert rows["start_s"].tolist() == [0.0, 1.0, 2.0] and set(rows["window"]) == {"every-second"}
    assert rows["label"].isin(LABELS).all() and rows["confidence"].between(0, 1).all()


def test_a_folder_gives_every_recording_under_it_in_order_and_the_csv(finished_run, tmp_path, capsys):
    paths, _ = finished_run
    clips = sorted(paths.test_audio_dir.glob("*.wav"))[:3]
    folder = tmp_path / "recordings"
    (folder / "b").mkdir(parents=True)
    targets = [folder / "b" / "one.wav", folder / "a.wav", folder / "b" / "two.WAV"]
    for clip, target in zip(clips, targets):
        target.write_bytes(clip.read_bytes())
    (folder / "notes.txt").write_text("not a recording")
    (folder / "b" / "broken.wav").write_text("not audio either")
    table = tmp_path / "classified.csv"
    code = run.main(["--work-dir", str(paths.work_dir), "--classify", str(folder), "--classify-csv", str(table)])
    captured = capsys.readouterr()
    assert code == 1  # the broken one
    expected = [folder / "a.wav", folder / "b" / "one.wav", folder / "b" / "two.WAV"]
    assert [_parse(line)[0] for line in captured.out.splitlines()] == list(map(str, expected))
    assert captured.err.strip().splitlines()[-1] == "error: 1 of 4 files could not be classified"
    rows = pd.read_csv(table, keep_default_na=False)
    assert rows["path"].tolist() == [str(folder / "a.wav"), str(folder / "b" / "broken.wav"),
                                     str(folder / "b" / "one.wav"), str(folder / "b" / "two.WAV")]
    assert "not a readable audio file" in rows.loc[1, "error"] and rows.loc[1, "label"] == ""
    assert (rows.drop(index=1)["window"] == "whole").all() and not list(tmp_path.glob(".classified*"))


def test_a_folder_without_recordings_is_one_error_line(finished_run, tmp_path, capsys):
    paths, _ = finished_run
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("no audio here")
    assert run.main(["--work-dir", str(paths.work_dir), "--classify", str(tmp_path / "empty")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (f"error: {tmp_path / 'empty'}: a folder with no recording under it; expected "
                                    "files ending in .wav, .flac, .ogg (searched its subfolders too)")


def test_the_classify_options_need_classify(capsys):
    assert run.main(["--classify-csv", "out.csv"]) == 2
    assert "only apply to --classify" in capsys.readouterr().err
