"""--classify: label recordings (WAV, FLAC, OGG) with the model trained once on the tiny competition."""
import re

import numpy as np
import pandas as pd
import scipy.io.wavfile
import scipy.signal

import run
from competition.core.labels import LABELS
from competition.predict.classify import classify

LINE = re.compile(r"^(?P<path>.+): (?P<label>\w+) \((?P<top>.+)\)$")


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
    match = LINE.match(line)
    assert match, line
    top = [(label, float(p)) for label, p in (item.split() for item in match["top"].split(", "))]
    return match["path"], match["label"], top


def test_prints_a_label_and_the_top_three_for_any_rate_channels_and_length(finished_run, tmp_path, capsys):
    paths, _ = finished_run
    files = [sorted(paths.test_audio_dir.glob("*.wav"))[0],
             *_odd_versions(sorted(paths.test_audio_dir.glob("*.wav"))[0], tmp_path)]
    assert run.main(["--work-dir", str(paths.work_dir), "--classify", *map(str, files)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
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
