"""The benchmarks' own pieces: the scale benchmark's test set and notebook recipe, the seeds' table, and the
comparison of a task's models, end to end on a tiny competition."""
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import scipy.io.wavfile
from conftest import load_benchmark, tone, write_wav

from competition.core.config import AudioConfig
from competition.frontend.audio import load_clip
from competition.frontend.spectral import log_spectrogram
from competition.tasks.commands import UNKNOWN_THRESHOLDS


def _scale_module():
    return load_benchmark("scale")


def test_the_kaggle_sized_test_set_is_built_once_from_the_clips_at_hand(tmp_path):
    scale = _scale_module()
    sources = [write_wav(tmp_path / "src" / f"{f}.wav", tone(0.7, frequency=f)) for f in (300, 500)]
    folder = scale.build_test_set(sources, tmp_path / "big", clips=25, seed=0)
    files = sorted((folder / "audio").glob("clip_*.wav"))
    assert len(files) == 25 and json.loads((folder / "complete.json").read_text()) == {"clips": 25, "seed": 0}
    rate, samples = scipy.io.wavfile.read(files[0])
    assert rate == 16_000 and samples.dtype == np.int16 and samples.shape == (16_000,)
    stamp = files[0].stat().st_mtime_ns
    scale.build_test_set(sources, tmp_path / "big", clips=25, seed=0)  # complete: not rewritten
    assert files[0].stat().st_mtime_ns == stamp
    scale.build_test_set(sources, tmp_path / "big", clips=30, seed=0)  # another size: rebuilt
    assert len(list((folder / "audio").glob("*.wav"))) == 30


def test_the_notebook_recipe_and_the_pipeline_agree_to_float_tolerance(tmp_path):
    scale = _scale_module()
    path = write_wav(tmp_path / "a.wav", tone(0.8, frequency=700))
    notebook = scale.NOTEBOOK_AUDIO  # the notebook resampled to 8 kHz; the default model hears 16 kHz
    assert notebook.target_rate == 8_000 and AudioConfig().target_rate == 16_000
    ours = log_spectrogram(load_clip(path, notebook), notebook)[0]
    assert np.allclose(scale.reference_features(path), ours, atol=1e-3)


def _finished_seed_runs(root, results):
    """Work folders of finished runs with these (seed, balanced, plain, public), their submissions, a solution."""
    solution = root / "solution.csv"
    names = [f"c{i}" for i in range(1000)]
    pd.DataFrame({"fname": names, "label": ["yes"] * 1000}).to_csv(solution, index=False)
    for seed, balanced, plain, public in results:
        work = root / f"seed-{seed}"
        (work / "model").mkdir(parents=True)
        (work / "manifests").mkdir()
        (work / "model" / "metrics.json").write_text(json.dumps(
            {"validation_balanced_accuracy": balanced, "validation_accuracy": plain}))
        (work / "manifests" / "train.json").write_text(json.dumps({"seconds": 600.0}))
        right = round(public * 1000)
        pd.DataFrame({"fname": names, "label": ["yes"] * right + ["no"] * (1000 - right)}).to_csv(
            root / f"seed-{seed}.csv", index=False)
    return solution


def test_the_seed_table_gives_each_seed_then_mean_min_and_max(tmp_path):
    seeds = load_benchmark("seeds")
    solution = _finished_seed_runs(tmp_path, [(42, 0.93, 0.94, 0.935), (43, 0.91, 0.92, 0.921)])
    rows = [seeds.seed_row(tmp_path / f"seed-{seed}", seed, solution, tmp_path / f"seed-{seed}.csv", 900.0)
            for seed in (42, 43)]
    table = seeds.summary(rows).set_index("seed")
    assert list(table.index) == [42, 43, "mean", "min", "max"]
    assert table.loc[43, "public"] == 0.921 and table.loc[42, "train_minutes"] == 10.0
    assert abs(table.loc["mean", "validation_balanced"] - 0.92) < 1e-12
    assert table.loc["min", "public"] == 0.921 and table.loc["max", "validation_plain"] == 0.94


def test_collect_tabulates_finished_runs_and_keeps_the_wall_times_measured_before(tmp_path, monkeypatch, capsys):
    seeds = load_benchmark("seeds")
    solution = _finished_seed_runs(tmp_path, [(42, 0.93, 0.94, 0.935), (43, 0.91, 0.92, 0.921)])
    # what a run of seed 42 alone left behind: a table of that seed only
    _seed_table(tmp_path / "seeds.csv", [(42, 0.93, 0.94, 0.935, 10, 12.5), ("mean", 0.93, 0.94, 0.935, 10, 12.5)])
    argv = ["seeds.py", "--root", str(tmp_path), "--collect", "--seeds", "42", "43", "--solution", str(solution)]
    monkeypatch.setattr("sys.argv", argv)
    seeds.main()
    table = seeds.read_table(tmp_path / "seeds.csv")
    assert list(table.index) == [42, 43] and table.loc[43, "public"] == pytest.approx(0.921)
    assert table.loc[42, "run_minutes"] == pytest.approx(12.5) and pd.isna(table.loc[43, "run_minutes"])
    monkeypatch.setattr("sys.argv", argv[:4] + ["--seeds", "44"])
    with pytest.raises(SystemExit, match="no finished run for seed 44"):
        seeds.main()
    capsys.readouterr()


def test_seeds_run_in_separate_invocations_keep_their_wall_times_for_collect(tmp_path, monkeypatch, capsys):
    seeds = load_benchmark("seeds")
    solution = _finished_seed_runs(tmp_path, [])
    # seconds at the start and end of each invocation: 10 min, 20 min, then half a minute for the rerun
    clock = iter([0, 600, 600, 1800, 1800, 1830])

    def pretend_to_run(command, **_):
        seed = int(command[command.index("--seed") + 1])
        if not (tmp_path / f"seed-{seed}").exists():  # a finished seed trains nothing on a rerun
            _finished_seed_runs(tmp_path, [(seed, 0.93, 0.94, 0.935)])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(seeds.subprocess, "run", pretend_to_run)
    monkeypatch.setattr(seeds.time, "perf_counter", lambda: next(clock))
    for seed in ("42", "43", "42"):  # one invocation each; the last reruns a finished seed
        monkeypatch.setattr("sys.argv", ["seeds.py", "--input-dir", str(tmp_path), "--root", str(tmp_path),
                                         "--seeds", seed, "--solution", str(solution)])
        seeds.main()
    assert seeds.read_table(tmp_path / "seeds.csv").index.tolist() == [42]  # the last invocation's own table
    monkeypatch.setattr("sys.argv", ["seeds.py", "--root", str(tmp_path), "--collect", "--seeds", "42", "43"])
    seeds.main()
    table = seeds.read_table(tmp_path / "seeds.csv")
    assert table["run_minutes"].tolist() == [pytest.approx(10.0), pytest.approx(20.0)]
    capsys.readouterr()


def _seed_table(path, rows):
    pd.DataFrame(rows, columns=["seed", "validation_balanced", "validation_plain", "public", "train_minutes",
                                "run_minutes"]).to_csv(path, index=False)
    return path


def test_a_variant_is_compared_seed_by_seed_with_the_reference_and_its_spread(tmp_path):
    seeds = load_benchmark("seeds")
    reference = seeds.read_table(_seed_table(tmp_path / "reference.csv", [
        (42, 0.930, 0.940, 0.930, 20, 21), (43, 0.920, 0.930, 0.940, 20, 21), (44, 0.925, 0.935, 0.935, 20, 21),
        ("mean", 0.925, 0.935, 0.935, 20, 21)]))
    assert list(reference.index) == [42, 43, 44]  # the statistics rows are not seeds
    variant = seeds.read_table(_seed_table(tmp_path / "variant.csv", [
        (42, 0.940, 0.940, 0.930, 15, 16), (43, 0.940, 0.935, 0.950, 15, 16), (45, 0.5, 0.5, 0.5, 15, 16)]))
    differences = seeds.paired_differences(variant, reference, "reference.csv")
    assert list(differences.index) == [42, 43, "mean difference", "reference spread"]  # seed 45: no partner
    assert differences.loc[43, "validation_balanced"] == pytest.approx(2.0)
    assert differences.loc["mean difference", "validation_balanced"] == pytest.approx(1.5)
    assert differences.loc["reference spread", "validation_balanced"] == pytest.approx(1.0)
    assert differences.loc["mean difference", "validation_plain"] == pytest.approx(0.25)
    lines = seeds.verdicts(differences)
    assert lines[0].startswith("validation_balanced: +1.50 points") and "beyond the reference's spread" in lines[0]
    assert "not a difference beyond the noise" in lines[1]


def test_the_seed_comparison_names_the_table_it_cannot_use(tmp_path):
    seeds = load_benchmark("seeds")
    broken = tmp_path / "broken.csv"
    broken.write_text("seed,accuracy\n42,0.9\n")
    with pytest.raises(SystemExit, match="broken.csv is not a seeds table: it lacks the column"):
        seeds.read_table(broken)
    one = seeds.read_table(_seed_table(tmp_path / "one.csv", [(42, 0.9, 0.9, 0.9, 1, 1)]))
    other = seeds.read_table(_seed_table(tmp_path / "other.csv", [(7, 0.9, 0.9, 0.9, 1, 1)]))
    with pytest.raises(SystemExit, match="no seed in common with other.csv"):
        seeds.paired_differences(one, other, "other.csv")


def test_a_network_row_reads_metrics_confusion_and_the_train_manifest(tmp_path):
    compare = load_benchmark("compare")
    paths = compare.task_paths(tmp_path / "speakers-dense-mfcc", "speakers")
    paths.model_dir.mkdir(parents=True)
    paths.manifest("train").parent.mkdir(parents=True)
    paths.metrics_json.write_text(json.dumps({
        "parameters": 1000, "model_bytes": 5000, "validation_accuracy": 5 / 6, "validation_balanced_accuracy": 0.875,
        "task_scores": {"top1": 5 / 6, "top5": 0.9, "top1_new_word": 0.5, "verification": {"eer": 0.2}}}))
    labels = ["1e5", "0a7c2a8d"]  # speaker ids stay text
    pd.DataFrame([[3, 1], [0, 2]], index=pd.Index(labels, name="true"), columns=labels).to_csv(paths.confusion_csv)
    paths.manifest("train").write_text(json.dumps({"seconds": 90.0, "config": {"epochs": 5}}))
    row = compare.network_row(paths, "dense", "mfcc")
    # by hand: precision 3/3 and 2/3, recall 3/4 and 2/2, F1 6/7 and 4/5
    assert row["family"] == "dense on mfcc" and row["kind"] == "network" and row["epochs"] == 5
    assert np.isclose(row["macro_precision"], 5 / 6) and np.isclose(row["macro_recall"], 0.875)
    assert np.isclose(row["macro_f1"], (6 / 7 + 4 / 5) / 2) and row["train_minutes"] == 1.5
    assert (row["top5"], row["top1_new_word"], row["eer"]) == (0.9, 0.5, 0.2)
    table = compare.comparison([row, {"family": "knn (pooled MFCC16k)", "kind": "classical", "balanced_accuracy": 0.9}],
                               verifies=True)
    assert list(table.columns) == compare.COLUMNS + compare.VERIFICATION_COLUMNS
    assert list(table["kind"]) == ["classical", "network"] and table["parameters"].isna()[0]


def test_the_comparison_refuses_a_family_the_registry_does_not_build_before_running_any(tmp_path, capsys):
    compare = load_benchmark("compare")
    assert all(compare.family(text) for text in compare.FAMILIES)  # the defaults are all buildable
    with pytest.raises(SystemExit):
        compare.main(["--task", "words", "--root", str(tmp_path), "--families", "dense:mfcc", "mel-cnn:mfcc"])
    assert "model mel-cnn reads logspec features; got --features mfcc" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_comparison_has_each_family_and_the_classical_models_and_a_rerun_trains_nothing(tmp_path, capsys):
    from competition.core.config import BASELINE_MODELS
    from competition.data.demo import make_demo_competition

    compare = load_benchmark("compare")
    make_demo_competition(tmp_path / "input", seed=7, n_speakers=6, n_test=20)
    root = tmp_path / "compare"
    argv = ["--task", "words", "--input-dir", str(tmp_path / "input"), "--root", str(root), "--epochs", "1",
            "--families", "dense:mfcc", "conv1d:wave", "--", "--workers", "1"]
    compare.main(argv)
    assert "networks at 1 epochs, seed 42" in capsys.readouterr().out
    table = pd.read_csv(root / "words-compare.csv")
    assert list(table.columns) == compare.COLUMNS
    assert sorted(table["family"]) == sorted(["dense on mfcc", "conv1d on wave",
                                              *[f"{name} (pooled MFCC16k)" for name in BASELINE_MODELS]])
    networks, classical = table[table["kind"] == "network"], table[table["kind"] == "classical"]
    assert (networks["parameters"] > 0).all() and (networks["epochs"] == 1).all()
    assert classical["parameters"].isna().all() and (table["model_bytes"] > 0).all()
    scores = table[["accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1"]]
    assert ((scores >= 0) & (scores <= 1)).all().all()
    assert np.allclose(table["macro_recall"], table["balanced_accuracy"], atol=1e-4)  # over the classes present
    assert table["balanced_accuracy"].is_monotonic_decreasing
    clip = next((root / "shared" / "extract" / "train" / "audio").rglob("*.wav"))
    assert (root / "words-conv1d-wave" / clip.relative_to(root / "shared")).samefile(clip)  # extracted once

    manifests = {path: path.read_bytes() for path in root.glob("*/**/manifests/*.json")}
    logs = {path: path.stat().st_size for path in root.glob("*.log")}
    compare.main(argv)
    assert capsys.readouterr().err.count("up to date, skipped") == 5  # extract, prepare, baseline, two families
    assert {path: path.read_bytes() for path in root.glob("*/**/manifests/*.json")} == manifests
    assert {path: path.stat().st_size for path in root.glob("*.log")} == logs  # no run started
    assert pd.read_csv(root / "words-compare.csv").equals(table)


def _posthoc_argv(paths, tmp_path) -> list[str]:
    """posthoc's command line on a finished run, scored on a solution that calls every test clip yes."""
    test = pd.read_csv(paths.features_dir / "test.csv", keep_default_na=False)
    solution = tmp_path / "solution.csv"
    pd.DataFrame({"fname": test["fname"], "label": "yes"}).to_csv(solution, index=False)
    return ["posthoc.py", "--work-dir", str(paths.work_dir), "--solution", str(solution)]


def test_posthoc_compares_other_shift_sets_each_with_the_threshold_validation_gives_it(finished_run, tmp_path,
                                                                                        monkeypatch, capsys):
    posthoc = load_benchmark("posthoc")
    paths, _ = finished_run
    argv = _posthoc_argv(paths, tmp_path)
    monkeypatch.setattr("sys.argv", [*argv, "--shifts=-2,0,2", "--shifts", "0"])
    posthoc.main()
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert sum(row[:4] == ["TTA", "[-2,", "0,", "2]"] for row in rows) == 1  # one row: its own threshold
    # the single pass again, with the threshold validation chooses for it among the candidates (which include 0
    # and the train stage's): it does at least as well on validation's balanced accuracy as either
    single = [row for row in rows if row[:2] == ["single", "pass"]]
    recalibrated = next(row for row in rows if row[:2] == ["TTA", "[0]"])
    assert float(recalibrated[2]) in UNKNOWN_THRESHOLDS and len(single) >= 1
    assert all(float(recalibrated[3]) >= float(row[3]) for row in single)
    monkeypatch.setattr("sys.argv", [*argv, "--shifts=-2;2"])
    with pytest.raises(SystemExit):
        posthoc.main()
    assert "expected frames separated by commas" in capsys.readouterr().err


def test_posthoc_averages_other_runs_models_and_refuses_a_run_of_other_labels(finished_run, tmp_path, monkeypatch,
                                                                               capsys):
    posthoc = load_benchmark("posthoc")
    paths, _ = finished_run
    argv = _posthoc_argv(paths, tmp_path)
    monkeypatch.setattr("sys.argv", [*argv, "--shifts=-3,0,3"])
    posthoc.main()
    alone = capsys.readouterr().out.splitlines()
    recalibrated_alone = next(line for line in alone if "TTA [-3, 0, 3]" in line and "chosen on validation" in line)
    # the run's own model twice: the average is the model itself, with the threshold chosen for it on validation
    monkeypatch.setattr("sys.argv", [*argv, "--with-run", str(paths.work_dir)])
    posthoc.main()
    twice = capsys.readouterr().out.splitlines()
    assert twice[0].startswith("2 model(s) from ")
    rows = [line for line in twice if line.lstrip().startswith(("single pass", "TTA"))]
    assert len(rows) == 2 and all(line.endswith("chosen on validation for these shifts") for line in rows)
    tta = next(line for line in rows if "TTA [-3, 0, 3]" in line)
    assert tta.split()[4:8] == recalibrated_alone.split()[4:8]  # threshold, validation balanced and plain, test
    # refused: other labels; other held-out clips
    other = tmp_path / "other"
    shutil.copytree(paths.model_dir, other / "model")
    labels = (other / "model" / "labels.txt").read_text().split()
    (other / "model" / "labels.txt").write_text("\n".join(reversed(labels)) + "\n")
    monkeypatch.setattr("sys.argv", [*argv, "--with-run", str(other)])
    with pytest.raises(SystemExit, match="has other labels, features or clip sizes"):
        posthoc.main()
    shutil.copy(paths.labels_file, other / "model" / "labels.txt")
    validation = pd.read_csv(paths.features_dir / "validation.csv", keep_default_na=False)
    (other / "features").mkdir()
    validation.assign(path=validation["path"].where(validation["kind"] != "clip", validation["path"] + ".x")).to_csv(
        other / "features" / "validation.csv", index=False)
    with pytest.raises(SystemExit, match="validates on other recorded clips"):
        posthoc.main()


# ---- the Kaggle kernel rehearsal (benchmarks/kernel.py) ----------------------------------------------------

def _kernel_module():
    return load_benchmark("kernel")


def test_the_rehearsal_runs_the_readmes_kernel_cell_as_written():
    kernel = _kernel_module()
    pip, command = kernel.kernel_commands(kernel.REPO / "README.md")
    assert pip == ["pip", "install", "-q", "py7zr"]
    assert command == ["python", f"/kaggle/input/{kernel.REPOSITORY}/run.py", "--stage", "all"]


def test_the_kernel_cell_is_looked_for_and_named_when_missing(tmp_path):
    kernel = _kernel_module()
    (tmp_path / "README.md").write_text("# no kernel here\n")
    with pytest.raises(SystemExit, match="no bash block after"):
        kernel.kernel_commands(tmp_path / "README.md")


def test_the_full_size_counts_are_the_competitions_and_a_scale_shrinks_each():
    kernel = _kernel_module()
    counts, speakers, test_clips = kernel.scaled_counts(1.0)
    assert sum(counts.values()) + 6 == 64_727 and len(counts) == 30  # with the six noise files
    assert (speakers, test_clips) == (1_881, 158_538)
    small, speakers, test_clips = kernel.scaled_counts(0.1)
    assert small["yes"] == 238 and speakers == 188 and test_clips == 15_854
    with pytest.raises(SystemExit, match="--scale must be in"):
        kernel.scaled_counts(1.5)


def test_speakers_are_split_by_the_data_sets_hashing_rule():
    kernel = _kernel_module()
    # a speaker's files share its split, whatever the word or repetition
    assert kernel.which_set("yes/0a1b2c3d_nohash_0.wav") == kernel.which_set("bed/0a1b2c3d_nohash_4.wav")
    rng = np.random.default_rng(0)
    splits = pd.Series([kernel.which_set(f"{rng.integers(2**32):08x}_nohash_0.wav") for _ in range(4000)])
    shares = splits.value_counts(normalize=True)
    assert abs(shares["validation"] - 0.1) < 0.02 and abs(shares["testing"] - 0.1) < 0.02


def test_the_training_plan_has_each_words_count_and_numbers_each_speakers_repetitions():
    kernel = _kernel_module()
    counts = {"yes": 40, "bed": 7}
    plan = kernel.plan_train(counts, speakers=5, sources={"yes": 3, "bed": 1}, seed=1)
    assert plan["word"].value_counts().to_dict() == counts and not plan["path"].duplicated().any()
    assert plan["speaker"].str.fullmatch("[0-9a-f]{8}").all() and plan["speaker"].nunique() <= 5
    for _, said in plan.groupby(["speaker", "word"]):
        assert sorted(said["repetition"]) == list(range(len(said)))
    assert plan.loc[plan["word"] == "bed", "source"].eq(0).all() and plan["source"].lt(3).all()
    assert (plan.groupby("speaker")["split"].nunique() == 1).all()
    assert plan.equals(kernel.plan_train(counts, speakers=5, sources={"yes": 3, "bed": 1}, seed=1))
    with pytest.raises(SystemExit, match="no clips of bed"):
        kernel.plan_train(counts, speakers=5, sources={"yes": 3}, seed=1)


def test_the_built_competition_has_the_kaggle_layout_and_is_built_once(tiny_competition, tmp_path):
    import py7zr

    kernel = _kernel_module()
    source = kernel.extract_source(tiny_competition, tmp_path)
    folder = kernel.build_competition(source, tmp_path, scale=0.002, seed=0)
    build = json.loads((folder / "build.json").read_text())
    assert sorted(p.name for p in (folder / "archives").iterdir()) == ["sample_submission.7z", "test.7z", "train.7z"]
    with py7zr.SevenZipFile(folder / "archives" / "train.7z") as archive:
        names = archive.getnames()
    clips = [n for n in names if n.endswith(".wav") and "_background_noise_" not in n]
    assert len(clips) == build["train_clips"] == sum(kernel.scaled_counts(0.002)[0].values())
    assert {"train/validation_list.txt", "train/testing_list.txt", "train/audio/_background_noise_"} <= set(names)
    assert all(re.fullmatch(r"train/audio/[a-z]+/[0-9a-f]{8}_nohash_\d+\.wav", n) for n in clips)
    with py7zr.SevenZipFile(folder / "archives" / "test.7z") as archive:
        tests = [n for n in archive.getnames() if n.endswith(".wav")]
    assert len(tests) == build["test_clips"] == 317 and tests[0] == "test/audio/clip_000000000.wav"
    with py7zr.SevenZipFile(folder / "archives" / "sample_submission.7z") as archive:
        archive.extractall(tmp_path / "sample")
    sample = pd.read_csv(tmp_path / "sample" / "sample_submission.csv")
    assert list(sample.columns) == ["fname", "label"] and len(sample) == 317
    stamp = (folder / "archives" / "train.7z").stat().st_mtime_ns
    kernel.build_competition(source, tmp_path, scale=0.002, seed=0)  # built: not rewritten
    assert (folder / "archives" / "train.7z").stat().st_mtime_ns == stamp


def test_a_submission_is_checked_as_kaggle_would_take_it(tmp_path):
    kernel = _kernel_module()
    expected = {"clip_000000000.wav", "clip_000000001.wav"}
    good = tmp_path / "good.csv"
    good.write_text("fname,label\nclip_000000000.wav,yes\nclip_000000001.wav,unknown\n")
    assert kernel.check_submission(good, expected)["valid"]
    bad = tmp_path / "bad.csv"
    bad.write_text("fname,word\nclip_000000000.wav,bed\n")
    result = kernel.check_submission(bad, expected)
    assert not result["valid"] and "header is 'fname,word'" in result["problems"][0]
    odd = tmp_path / "odd.csv"
    odd.write_text("fname,label\nclip_000000000.wav,bed\n")
    problems = " ".join(kernel.check_submission(odd, expected)["problems"])
    assert "1 test clips missing" in problems and "labels outside the 12: ['bed']" in problems
    assert kernel.check_submission(tmp_path / "none.csv", expected)["problems"] == [f"{tmp_path / 'none.csv'} was "
                                                                                      "not written"]


def test_the_report_extrapolates_training_from_the_last_epoch_and_says_so():
    kernel = _kernel_module()
    sample = dict.fromkeys(kernel.SAMPLE_COLUMNS, 0)
    result = {"stages": [["extract", 10.0], ["train", 25.0], ["operating", 30.0]], "seconds": 70.0, "interval": 2.0,
              "samples": [{**sample, "tree_pss": 5e8, "tree_rss": 6e8, "working_du": 4096, "working_fs_used": 8192}],
              "max_rss_single_process": 4e8, "working_files": ["submission.csv"], "epochs": [12.0, 10.0],
              "submission": {"valid": True, "problems": [], "rows": 3}}
    rows = {row["item"]: row for row in kernel.report_rows(result, {"test_clips": 3}, 0.1, 2, 40)}
    assert [item for item in rows if item in ("extract", "train", "operating")] == ["extract", "train", "operating"]
    assert rows["one epoch at full size"]["value"] == 100 and "EXTRAPOLATED" in rows["one epoch at full size"]["note"]
    train = rows["train stage, 40 epochs at full size"]
    assert train["value"] == round((40 * 100 + 3 / 0.1) / 3600, 2) and train["unit"] == "h"
    whole = rows["--stage all at full size"]["value"]  # operating is not scaled: its streams have a fixed length
    assert whole == round((40 * 100 + 30 + 10 / 0.1 + 30) / 3600, 2)
    assert rows["/kaggle/working at most"]["value"] == 8192 and rows["valid"]["value"] is True
