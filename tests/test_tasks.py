"""Tasks beyond the competition's: all 30 words, on the same pipeline, in folders of their own."""
import dataclasses
import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import run
from competition import PipelineError, stages
from competition.core.flags import settings_from_args
from competition.core.labels import WORDS
from competition.core.paths import Paths
from competition.tasks import get_task, task_names


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_words_task_is_thirty_classes_with_no_threshold(tmp_path):
    task = get_task("words")
    assert "words" in task_names() and task.labels == WORDS and len(task.labels) == 30
    assert task.silence_label is None and task.unknown_label is None
    probabilities = np.eye(30)[[3, 7]] * 0.2 + 0.01
    assert list(task.decide(probabilities, 0.9)) == [3, 7]  # a threshold means nothing here
    sample = tmp_path / "sample.csv"
    pd.DataFrame({"fname": ["b.wav", "a.wav"], "label": ["silence", "silence"]}).to_csv(sample, index=False)
    written = task.write_submission(tmp_path / "words.csv", pd.Series(["a.wav", "b.wav"]),
                                    np.array(["dog", "yes"]), sample)
    assert list(written.columns) == ["fname", "word"] and list(written["fname"]) == ["b.wav", "a.wav"]
    with pytest.raises(PipelineError, match="words outside the 30"):
        task.write_submission(tmp_path / "w.csv", pd.Series(["a.wav", "b.wav"]), np.array(["dog", "unknown"]), sample)


def test_a_second_task_keeps_its_own_folder_and_leaves_the_competition_up_to_date(finished_run, tmp_path, caplog):
    paths, settings = finished_run
    work = tmp_path / "work"
    shutil.copytree(paths.work_dir, work)
    # the same submission path as the run recorded (the output is part of predict's config)
    commands = Paths(paths.input_dir, work, paths.output)
    before = {p: _digest(p) for p in [commands.output, *sorted((work / "manifests").glob("*.json"))]}

    words = Paths(paths.input_dir, work, tmp_path / "words.csv", task="words")
    stages.run("all", words, dataclasses.replace(settings, task="words"))
    assert words.model_dir == work / "tasks" / "words" / "model" and words.labels_file.read_text().split() == \
        list(WORDS)
    submission = pd.read_csv(words.output)
    assert list(submission.columns) == ["fname", "word"] and set(submission["word"]) <= set(WORDS)
    assert not (work / "tasks" / "words" / "extract").exists()  # the archives are extracted once

    caplog.set_level(logging.INFO, logger="competition.stages.runner")
    stages.run("all", commands, settings)
    assert [r.getMessage() for r in caplog.records if "up to date, skipped" in r.getMessage()] == \
        [f"stage {name}: up to date, skipped" for name in stages.STAGE_NAMES]
    assert {p: _digest(p) for p in before} == before


@pytest.mark.parametrize("argv, expected", [
    ([], "submissions/submission.csv"),
    (["--demo"], "submissions/demo_submission.csv"),
    (["--task", "commands"], "submissions/submission.csv"),
    (["--task", "words"], "submissions/words-submission.csv"),
    (["--demo", "--task", "words"], "submissions/demo_words-submission.csv"),
    (["--stage", "baseline", "--baseline-model", "logreg"], "submissions/baseline-logreg.csv"),
    (["--stage", "baseline", "--baseline-model", "logreg", "--task", "words"], "submissions/words-baseline-logreg.csv"),
])
def test_each_task_writes_its_own_default_submission(argv, expected, tmp_path, monkeypatch):
    monkeypatch.setattr("competition.core.paths.KAGGLE_ROOT", tmp_path / "no-kaggle")  # wherever the tests run
    args = run.parse_args(argv)
    assert run.default_output(args, settings_from_args(args)) == Path(expected)


# ---- speakers ------------------------------------------------------------------------------

def _clips(counts: dict[str, int]) -> pd.DataFrame:
    """Word clips of speakers with the given numbers of clips, each saying a different word per take."""
    rows = [{"path": f"train/audio/{WORDS[take % 30]}/{speaker}_nohash_{take}.wav", "word": WORDS[take % 30],
             "label": speaker, "speaker": speaker} for speaker, count in counts.items() for take in range(count)]
    return pd.DataFrame(rows)


def _split(clips: pd.DataFrame, **settings) -> pd.Series:
    from competition.core.config import PrepareConfig, Settings, project
    from competition.data.prepare import speaker_split

    config = project(PrepareConfig, Settings(task="speakers", **settings))
    return speaker_split(clips, config, np.random.default_rng(config.seed))


def test_the_speaker_split_holds_out_a_seeded_share_of_each_speaker_and_keeps_the_rest_unseen():
    from competition.data.prepare import TRAIN, UNSEEN, VALIDATION, check_speakers_trained

    clips = _clips({"00176480": 10, "0a7c2a8d": 20, "1b2c3d4e": 9, "2c3d4e5f": 3, "3d4e5f60": 40})
    split = _split(clips)
    by_speaker = clips.assign(split=split).groupby("speaker")["split"]
    held = by_speaker.apply(lambda s: int((s == VALIDATION).sum()))
    assert held.to_dict() == {"00176480": 3, "0a7c2a8d": 6, "1b2c3d4e": 0, "2c3d4e5f": 0, "3d4e5f60": 12}
    assert set(split[clips["speaker"].isin(["1b2c3d4e", "2c3d4e5f"])]) == {UNSEEN}  # fewer than 10 clips
    trained = set(clips.loc[split == TRAIN, "speaker"])
    assert set(clips.loc[split == VALIDATION, "speaker"]) <= trained
    assert not set(clips.loc[split == UNSEEN, "speaker"]) & trained
    check_speakers_trained(clips.assign(split=split))  # the prepare stage's own check agrees

    assert split.equals(_split(clips))  # seeded: the same clips for the same seed
    assert not split.equals(_split(clips, seed=43))
    assert set(_split(clips, min_clips_per_speaker=3)[clips["speaker"] == "2c3d4e5f"]) == {TRAIN, VALIDATION}
    assert (_split(clips, speaker_validation_share=0.5) == VALIDATION).sum() == 5 + 10 + 20


def test_the_prepare_check_refuses_a_validation_speaker_never_trained_on():
    from competition.data.prepare import check_speakers_trained

    clips = _clips({"aaaa0001": 3, "bbbb0002": 2}).assign(split=["train", "validation", "train", "unseen", "unseen"])
    check_speakers_trained(clips)
    with pytest.raises(PipelineError, match="1 validation speakers have no training clips"):
        check_speakers_trained(clips.assign(split=["train", "validation", "train", "validation", "validation"]))
    with pytest.raises(PipelineError, match="also trained on"):
        check_speakers_trained(clips.assign(split=["train", "validation", "unseen", "unseen", "unseen"]))


def test_a_speakers_setting_leaves_the_other_tasks_fingerprints_alone():
    from competition.core.config import PrepareConfig, Settings, fingerprint, project

    for task in ("commands", "words"):
        plain, changed = (fingerprint(project(PrepareConfig, Settings(task=task, min_clips_per_speaker=n)))
                          for n in (10, 20))
        assert plain == changed and "min_clips_per_speaker" not in plain
    plain, changed = (fingerprint(project(PrepareConfig, Settings(task="speakers", min_clips_per_speaker=n)))
                      for n in (10, 20))
    assert plain["min_clips_per_speaker"] == 10 and plain != changed
    with pytest.raises(PipelineError, match="--min-clips-per-speaker must be at least 2"):
        Settings(min_clips_per_speaker=1)


def test_the_equal_error_rate_of_known_cases():
    from competition.tasks.verification import equal_error_rate, error_rates

    # thresholds 0.9, 0.8, 0.7: same-speaker 0.3 is refused while different-speaker 0.7 is accepted
    same = np.array([True, True, True, False, False, False])
    assert equal_error_rate(error_rates(np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1]), same)) == pytest.approx(1 / 3)
    assert equal_error_rate(error_rates(np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), same)) == 0.0  # apart
    assert equal_error_rate(error_rates(np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), same)) == 1.0  # upside down
    # interpolated: the rates cross half-way between two thresholds
    curve = error_rates(np.array([0.9, 0.5, 0.6, 0.1]), np.array([True, True, False, False]))
    assert list(curve["false_accept"]) == [0, 0, 0.5, 0.5, 1] and list(curve["false_reject"]) == [1, 0.5, 0.5, 0, 0]
    assert equal_error_rate(curve) == 0.5
    with pytest.raises(PipelineError, match="both same-speaker and different-speaker pairs"):
        error_rates(np.array([0.5, 0.6]), np.array([True, True]))


def test_verification_scores_pairs_by_cosine_and_round_trips(tmp_path):
    from competition.tasks.verification import Verification, pair_scores

    embeddings = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    scores, same = pair_scores(embeddings, np.array(["a", "a", "b", "b"]))
    assert list(same) == [True, False, False, False, False, True]
    assert scores[0] == pytest.approx(2 / np.hypot(2, 0.1)) and scores[1] == pytest.approx(0.0)
    verification = Verification.measure(embeddings, np.array(["a", "a", "b", "b"]))
    assert verification.eer == 0.0 and (verification.same_pairs, verification.different_pairs) == (2, 4)
    verification.save(tmp_path / "verification.json")
    loaded = Verification.load(tmp_path / "verification.json")
    assert loaded.summary() == verification.summary()
    pd.testing.assert_frame_equal(loaded.curve, verification.curve)
    (tmp_path / "verification.csv").write_text("nonsense\n")
    with pytest.raises(PipelineError, match="verification.json .* cannot read it"):
        Verification.load(tmp_path / "verification.json")


def test_verification_samples_whole_speakers_so_no_same_speaker_pair_is_thinned():
    from competition.tasks.verification import sampled_rows

    speakers = np.repeat([f"s{i:02d}" for i in range(20)], 5)  # 20 speakers, 5 clips each
    rows = np.arange(len(speakers))
    assert list(sampled_rows(rows, speakers, seed=1, max_clips=100)) == list(rows)  # enough room: every clip
    chosen = sampled_rows(rows, speakers, seed=1, max_clips=23)
    kept = pd.Series(speakers[chosen]).value_counts()
    assert len(chosen) == 20 and (kept == 5).all()  # four whole speakers, no fifth that would overflow
    assert list(chosen) == sorted(chosen) and list(sampled_rows(rows, speakers, seed=1, max_clips=23)) == list(chosen)
    assert set(sampled_rows(rows, speakers, seed=2, max_clips=23)) != set(chosen)
    assert len(sampled_rows(rows, speakers, seed=1, max_clips=3)) == 5  # at least one speaker


def test_the_speakers_task_scores_top_k_and_words_never_said_in_training():
    task = get_task("speakers")
    assert task.classes(["b", "a", "b", "c"]) == ("a", "b", "c")
    probabilities = np.array([[0.6, 0.3, 0.1] + [0.0] * 3, [0.1, 0.2, 0.3, 0.4, 0.0, 0.0], [0.5, 0.1, 0.1, 0.1,
                                                                                              0.1, 0.1]])
    y = np.array([0, 0, 5])  # right; in the top 5 only; outside the top 5 (ties keep the first classes)
    validation = pd.DataFrame({"speaker": ["s0", "s0", "s5"], "word": ["yes", "cat", "no"]})
    train = pd.DataFrame({"speaker": ["s0", "s5"], "word": ["yes", "no"]})
    scores = task.evaluate(probabilities, y, validation, train)
    assert scores == {"top1": pytest.approx(1 / 3), "top5": pytest.approx(2 / 3), "top1_new_word": 0.0,
                      "new_word_clips": 1}


def test_confused_pairs_are_the_largest_off_diagonal_cells():
    from competition.core.metrics import confused_pairs

    matrix = pd.DataFrame([[5, 3, 0], [1, 4, 0], [0, 3, 2]], index=["a", "b", "c"], columns=["a", "b", "c"])
    pairs = confused_pairs(matrix, 2)
    assert pairs[["true", "predicted", "clips"]].values.tolist() == [["a", "b", 3], ["c", "b", 3]]
    assert pairs["share_of_true"].tolist() == pytest.approx([3 / 8, 3 / 5])


@pytest.fixture(scope="module")
def speakers_run(tmp_path_factory):
    """The whole pipeline for the speakers task on a tiny competition with occasional speakers."""
    from competition.core.config import Settings
    from competition.data.demo import make_demo_competition

    root = tmp_path_factory.mktemp("speakers")
    make_demo_competition(root / "input", seed=7, n_speakers=6, n_test=20, n_occasional=6)
    paths = Paths(root / "input", root / "work", root / "speakers.csv", task="speakers")
    settings = Settings(task="speakers", epochs=2, batch_size=32, workers=1)
    stages.run("all", paths, settings)
    return paths, settings


def test_the_speakers_task_end_to_end(speakers_run, capsys):
    import json

    paths, settings = speakers_run
    assert paths.model_dir == paths.work_dir / "tasks" / "speakers" / "model"
    index = pd.read_csv(paths.index_csv, keep_default_na=False, dtype=str)
    classes = sorted(set(index.loc[index["split"] == "train", "speaker"]))
    assert len(classes) == 6 and paths.labels_file.read_text().split() == classes  # the six regular speakers
    assert set(index.loc[index["split"] == "unseen", "speaker"]).isdisjoint(classes)
    scores = json.loads(paths.metrics_json.read_text())["task_scores"]
    assert 0 <= scores["top1"] <= scores["top5"] <= 1 and scores["new_word_clips"] > 0
    verification = scores["verification"]
    assert verification["speakers"] == 6 and verification["same_pairs"] > 0 and 0 <= verification["eer"] <= 1
    submission = pd.read_csv(paths.output, dtype=str)
    assert list(submission.columns) == ["fname", "speaker"] and set(submission["speaker"]) <= set(classes)
    with pytest.raises(PipelineError, match="speakers outside the 6 speakers trained on"):
        get_task("speakers").write_submission(paths.output, submission["fname"], np.array(["ffffffff"] * 20),
                                              paths.sample_submission, classes)

    stages.run("report", paths, settings)
    report = paths.train_report_page.read_text()
    assert (paths.train_report / "verification_det.png").exists() and "Equal error rate" in report

    wav = next((paths.extract_dir / "train" / "audio" / "yes").glob(f"{classes[0]}_nohash_*.wav"))
    assert run.main(["--classify", str(wav), "--task", "speakers", "--work-dir", str(paths.work_dir)]) == 0
    printed = capsys.readouterr().out
    assert sum(speaker in printed for speaker in classes) == 3  # the top three speakers


def test_a_report_of_many_classes_lists_confused_pairs_and_embeds_the_largest_classes(speakers_run, monkeypatch):
    from competition.analysis import reports

    paths, settings = speakers_run
    monkeypatch.setattr(reports, "GRID_CLASSES", 3)  # the six tiny speakers stand for hundreds
    monkeypatch.setattr(reports, "TOP_CLASSES", 2)
    embeddings, labels, rows = reports.validation_embeddings(paths, settings, 6)
    table = pd.read_csv(paths.feature_table("validation"), dtype=str, keep_default_na=False)
    counts = table["label"].value_counts()
    largest = sorted(counts.index, key=lambda s: (-counts[s], s))[:2]
    assert sorted(set(labels)) == sorted(largest) and len(labels) == counts[largest].sum() == len(embeddings)

    reports.write_training_report(paths, settings)
    page = paths.train_report_page.read_text()
    assert "most confused pairs of the 6 classes" in page and not (paths.train_report / "confusion_matrix.png").exists()
    assert "The 1 best and worst by F1 of the 6" in page


def test_listening_needs_a_model_of_the_commands_task(speakers_run, tmp_path, capsys):
    paths, _ = speakers_run
    wav = next((paths.extract_dir / "train" / "audio" / "yes").glob("*.wav"))
    code = run.main(["--listen", str(wav), "--task", "speakers", "--work-dir", str(paths.work_dir)])
    assert code != 0 and "--listen needs a model of a task with silence and unknown classes" in \
        capsys.readouterr().err


def test_the_pooled_statistics_reference_scores_the_same_split(speakers_run, monkeypatch, capsys):
    from conftest import load_benchmark

    paths, _ = speakers_run
    monkeypatch.setattr("sys.argv", ["pooled_speakers.py", "--work-dir", str(paths.work_dir)])
    load_benchmark("pooled_speakers").main()
    printed = capsys.readouterr().out
    index = pd.read_csv(paths.index_csv, dtype=str, keep_default_na=False)
    assert f"{(index['split'] == 'train').sum()} training and {(index['split'] == 'validation').sum()} " \
        "validation clips of 6 speakers" in printed
    top1, top5 = (float(printed.split(f"{name} ")[1].split(",")[0]) for name in ("top1", "top5"))
    assert 0 <= top1 <= top5 <= 1
