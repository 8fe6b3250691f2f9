#!/usr/bin/env python
"""The pipeline at the real competition's scale, on this machine, in one run.

    python benchmarks/scale.py --input-dir input/

Builds (once) a Kaggle-sized test set of 158,538 one-second clips made from the clips at hand
with random gain and shift, then measures extraction MB/s, feature clips/s for train-style and
test-style work next to the notebook recipe this project grew from, training samples/s with the
tf.data pipeline and with arrays already in memory, and the whole predict stage over all 158,538
clips. Each measurement runs in its own process, so each peak resident memory is its own.
Prints one table and writes benchmarks/results/scale.csv.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from competition.core.config import (  # noqa: E402
    NOTEBOOK_RATE,
    AudioConfig,
    FeaturesConfig,
    PredictConfig,
    Settings,
    TrainConfig,
    project,
)
from competition.core.paths import Paths  # noqa: E402
from competition.inference.config import InferenceConfig  # noqa: E402

KAGGLE_TEST_CLIPS = 158_538
KAGGLE_TRAIN_CLIPS = 64_727
REFERENCE_CLIPS = 16_000  # the notebook recipe is timed on a sample: its rate is what matters
TRAIN_STEPS = 30          # training steps of one timed pass
# Our front end at the notebook recipe's rate is what must agree with it (the features' rows below
# time the default's 16 kHz, which does more work per clip and no resampling).
NOTEBOOK_AUDIO = AudioConfig(target_rate=NOTEBOOK_RATE)
TRAIN_ROUNDS = 7          # timed passes of each kind
WARMUP_STEPS = 8


# --- the notebook recipe, exactly as the issue states it -----------------------------------------

def reference_features(path: Path) -> np.ndarray:
    import scipy.io.wavfile
    import scipy.signal

    _, samples = scipy.io.wavfile.read(path)
    samples = samples / 32768.0  # the notebook keeps int16 units: a constant log(32768**2) apart
    samples = np.pad(samples, (0, max(0, 16_000 - len(samples))))[:16_000]
    resampled = scipy.signal.resample(samples, 8_000)
    _, _, power = scipy.signal.spectrogram(resampled, fs=8_000, window="hann", nperseg=160, noverlap=80,
                                           detrend=False)
    return np.log(power.T.astype(np.float32) + 1e-10)


# --- the Kaggle-sized test set ---------------------------------------------------------------------

CLIP_SAMPLES = 16_000  # one second at the competition's 16 kHz
MAX_SHIFT = 1_600      # samples, a tenth of a second either way


def read_source_clip(path: Path) -> np.ndarray:
    """One clip as float32 samples in int16 units, padded or cut to one second."""
    import scipy.io.wavfile

    _, samples = scipy.io.wavfile.read(path)
    return np.pad(samples, (0, max(0, CLIP_SAMPLES - len(samples))))[:CLIP_SAMPLES].astype(np.float32)


def read_source_clips(paths: list[Path], desc: str = "read source clips") -> list[np.ndarray]:
    from tqdm import tqdm

    return [read_source_clip(path) for path in tqdm(paths, desc=desc, unit="clip")]


def vary(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A new int16 clip from `clip`: rolled by a random shift, then at a random gain (clipped)."""
    shifted = np.roll(clip, int(rng.integers(-MAX_SHIFT, MAX_SHIFT + 1)))
    return np.clip(shifted * rng.uniform(0.3, 1.5), -32768, 32767).astype(np.int16)


def build_test_set(source_audio: list[Path], folder: Path, clips: int, seed: int) -> Path:
    """`clips` WAVs made from the source clips with random gain and shift, written once."""
    import scipy.io.wavfile
    from tqdm import tqdm

    from competition.core.io import atomic_dir

    marker = folder / "complete.json"
    if marker.exists() and json.loads(marker.read_text()) == {"clips": clips, "seed": seed}:
        return folder
    rng = np.random.default_rng(seed)
    sources = read_source_clips(source_audio)
    with atomic_dir(folder) as temp:
        audio = temp / "audio"
        audio.mkdir()
        for i in tqdm(range(clips), desc="write the Kaggle-sized test set", unit="clip"):
            clip = vary(sources[rng.integers(len(sources))], rng)
            scipy.io.wavfile.write(audio / f"clip_{i:09d}.wav", CLIP_SAMPLES, clip)
        (temp / "complete.json").write_text(json.dumps({"clips": clips, "seed": seed}))
    return folder


# --- measurements, each run in a child process -----------------------------------------------------

def measure_extract(args) -> dict:
    from competition.data.archives import extract, find_archives, system_7z

    archives = find_archives(args.input_dir)
    with tempfile.TemporaryDirectory(dir=args.work_dir) as temp:
        started = time.perf_counter()
        extract(archives, Paths(args.input_dir, Path(temp), Path(temp) / "s.csv"))
        seconds = time.perf_counter() - started
        unpacked = sum(p.stat().st_size for p in Path(temp).rglob("*") if p.is_file())
    packed = sum(p.stat().st_size for p in archives.values())
    return {"items": packed / 1e6, "seconds": seconds, "unit": "MB/s",
            "note": f"{packed / 1e6:.0f} MB of archives, {unpacked / 1e6:.0f} MB unpacked, "
                    f"with {system_7z() or 'py7zr'}"}


def _features(sources, target: Path, workers: int) -> dict:
    from competition.data.features import write_feature_array

    started = time.perf_counter()
    readable = write_feature_array(sources, target, project(FeaturesConfig, Settings(workers=workers)),
                                   desc=target.stem)
    return {"items": len(sources), "seconds": time.perf_counter() - started, "unit": "clips/s",
            "readable": readable}


def measure_features_train(args) -> dict:
    mini = _mini_paths(args)
    index = pd.read_csv(mini.index_csv, keep_default_na=False)
    index = index[index["split"] != "unused"]
    # the training index of kaggle-mini, repeated to the full competition's size
    rows = int(KAGGLE_TRAIN_CLIPS * (1 + Settings().silence_share))
    index = index.iloc[np.arange(rows) % len(index)]
    sources = [(str(mini.extract_dir / p), int(o), float(g), k)
               for p, o, g, k in zip(index["path"], index["offset"], index["gain"], index["kind"])]
    with tempfile.TemporaryDirectory(dir=args.work_dir) as temp:
        result = _features(sources, Path(temp) / "train.npy", args.workers)
    kinds = index["kind"].value_counts().to_dict()
    return {**result, "readable": None, "note": f"{args.workers} workers; kaggle-mini's training index repeated "
                                                f"to {rows:,} rows: "
                                                f"{', '.join(f'{v:,} {k}' for k, v in kinds.items())}"}


def measure_features_test(args) -> dict:
    bench = _bench_paths(args)
    files = sorted((args.test_set / "audio").glob("*.wav"))
    result = _features([(str(f), 0, 1.0, "clip") for f in files], bench.features_dir / "test.npy", args.workers)
    table = pd.DataFrame({"fname": [f.name for f in files], "readable": result.pop("readable")})
    table.to_csv(bench.features_dir / "test.csv", index=False)
    pd.DataFrame({"fname": table["fname"], "label": "silence"}).to_csv(bench.sample_submission, index=False)
    return {**result, "note": f"{args.workers} workers; {len(files):,} clips"}


def measure_reference(args) -> dict:
    from competition.frontend.audio import load_clip
    from competition.frontend.spectral import log_spectrogram

    files = sorted((args.test_set / "audio").glob("*.wav"))[:REFERENCE_CLIPS]
    started = time.perf_counter()
    reference = np.stack([reference_features(f) for f in files])
    seconds = time.perf_counter() - started
    ours = log_spectrogram(np.stack([load_clip(f, NOTEBOOK_AUDIO) for f in files]), NOTEBOOK_AUDIO)
    difference = float(np.abs(ours - reference).max())
    return {"items": len(files), "seconds": seconds, "unit": "clips/s",
            "note": f"1 process, {len(files):,} clips; largest difference from ours {difference:.1e} (log power)"}


def measure_train(args) -> dict:
    """The training input pipeline as training uses it (memory-mapped cache, augmentation,
    prefetch) against the same model fed tensors already in memory (no reading, no
    augmentation). Passes alternate in one process, so both meet the same machine; single
    passes stall now and then, so each side's figure is its median pass."""
    import tensorflow as tf

    from competition.core.labels import LABELS
    from competition.train.data import load_split
    from competition.train.loop import new_model
    from competition.train.pipeline import epoch_dataset

    settings = project(TrainConfig, Settings(epochs=1))
    model = new_model(settings, 0, TRAIN_ROUNDS * TRAIN_STEPS * settings.batch_size, len(LABELS))
    mini = _mini_paths(args)
    x, y = load_split(mini, settings, "train", list(LABELS), in_memory=False)
    noise = tf.constant(load_split(mini, settings, "noise", list(LABELS) + ["noise"])[0].astype(np.float32))
    rows = TRAIN_STEPS * settings.batch_size
    readable = np.flatnonzero(y >= 0)[:rows]
    in_memory = tf.data.Dataset.from_tensor_slices((tf.constant(x[readable], tf.float32), tf.constant(y[readable])))
    in_memory = in_memory.batch(settings.batch_size).cache()
    model.fit(epoch_dataset(x, y, noise, settings, 0, 0).take(WARMUP_STEPS), verbose=0)
    model.fit(in_memory.take(WARMUP_STEPS), verbose=0)
    seconds: dict[str, list[float]] = {"pipeline": [], "memory": []}
    for round_number in range(TRAIN_ROUNDS):
        for kind, batches in (("pipeline", epoch_dataset(x, y, noise, settings, 0, 1 + round_number).take(TRAIN_STEPS)),
                              ("memory", in_memory)):
            started = time.perf_counter()
            model.fit(batches, verbose=0)
            seconds[kind].append(time.perf_counter() - started)
    what = f"{settings.model}, batch {settings.batch_size}, median of {TRAIN_ROUNDS} passes of {TRAIN_STEPS} steps"
    return {"items": rows, "seconds": float(np.median(seconds["pipeline"])), "unit": "samples/s",
            "memory_seconds": float(np.median(seconds["memory"])),
            "note": f"{what}: tf.data over the memory-mapped cache, augmentation, prefetch "
                    f"(passes: {', '.join(f'{t:.1f}' for t in seconds['pipeline'])} s)",
            "memory_note": f"{what}, alternating with the pipeline's: tensors in memory "
                           f"(passes: {', '.join(f'{t:.1f}' for t in seconds['memory'])} s)"}


def forward_operations(model) -> int:
    """Multiply-adds of one clip through the model's convolutions and dense layers (the rest is small)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            total += int(np.prod(layer.output.shape[1:])) * int(np.prod(layer.kernel_size))
        elif isinstance(layer, keras.layers.Conv2D):
            total += int(np.prod(layer.output.shape[1:])) * int(np.prod(layer.kernel_size)) * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.output.shape[1:-1], dtype=np.int64)) * layer.input.shape[-1] * layer.units
    return total


def measure_train_input(args) -> dict:
    """The training input pipeline alone (memory-mapped cache, augmentation, prefetch), no model: the rate
    a GPU kernel's training cannot exceed, since a GPU waits on it. The default model's multiply-adds per
    clip come with it, for the GPU's side."""
    import tensorflow as tf

    from competition.core.labels import LABELS
    from competition.models import build_model
    from competition.train.data import load_split
    from competition.train.pipeline import epoch_dataset

    settings = project(TrainConfig, Settings(epochs=1))
    mini = _mini_paths(args)
    x, y = load_split(mini, settings, "train", list(LABELS), in_memory=False)
    noise = tf.constant(load_split(mini, settings, "noise", list(LABELS) + ["noise"])[0].astype(np.float32))
    for _ in epoch_dataset(x, y, noise, settings, 0, 0).take(WARMUP_STEPS):
        pass
    seconds, rows = [], 0
    for round_number in range(TRAIN_ROUNDS):
        started = time.perf_counter()
        rows = sum(len(labels) for _, labels in epoch_dataset(x, y, noise, settings, 0, 1 + round_number)
                   .take(TRAIN_STEPS))
        seconds.append(time.perf_counter() - started)
    operations = forward_operations(build_model(settings.model, settings.audio, len(LABELS), settings.features))
    return {"items": rows, "seconds": float(np.median(seconds)), "unit": "samples/s",
            "forward_multiply_adds": operations,
            "note": f"batch {settings.batch_size}, median of {TRAIN_ROUNDS} passes of {TRAIN_STEPS} batches, no model "
                    f"(passes: {', '.join(f'{t:.2f}' for t in seconds)} s); {settings.model}: "
                    f"{operations / 1e6:.0f} M multiply-adds a clip forward"}


def measure_predict(args) -> dict:
    from competition.predict.stage import predict

    bench = _bench_paths(args)
    _install_model(args, bench)
    started = time.perf_counter()
    predict(bench, project(PredictConfig, Settings(), output=str(bench.output)))
    config = InferenceConfig.load(bench.inference_config)
    return {"items": len(pd.read_csv(bench.output)), "seconds": time.perf_counter() - started, "unit": "clips/s",
            "note": f"the whole predict stage: {len(config.members)} model(s) x {len(config.tta_shifts)} "
                    f"test-time shifts, streamed from {bench.features_dir / 'test.npy'}; {args.model_note}"}


MEASURES = {
    "extract": ("extract", "extraction", measure_extract),
    "reference": ("features", "notebook recipe, per file", measure_reference),
    "features-train": ("features", "train-style (clips, noise windows, room tone)", measure_features_train),
    "features-test": ("features", "test-style (Kaggle-sized test set)", measure_features_test),
    "train": ("train", "tf.data pipeline over the cache", measure_train),
    "train-input": ("train", "input pipeline alone, no model (what a GPU waits on)", measure_train_input),
    "predict": ("predict", "158,538 clips, streamed", measure_predict),
}


def run_child(name: str, args) -> dict:
    """Run one measurement in a fresh process; its peak RSS (and its workers') comes back with it."""
    command = [sys.executable, __file__, "--child", name, "--input-dir", str(args.input_dir),
               "--work-dir", str(args.work_dir), "--workers", str(args.workers), "--clips", str(args.clips)]
    if args.model_dir:
        command += ["--model-dir", str(args.model_dir)]
    print(f"== {name}", file=sys.stderr, flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"measurement {name} failed (exit {result.returncode}); see the messages above")
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM starts afresh at exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, args) -> None:
    args.test_set = args.work_dir / "kaggle-sized-test"
    args.model_note = ""
    result = MEASURES[name][2](args)
    result.pop("readable", None)
    result["peak_rss_mb"] = peak_rss_mb()
    # Linux keeps a forked child's high-water mark from before its exec, so a worker's figure
    # includes this process's size when it was spawned: an upper bound.
    result["workers_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


# --- the work folders --------------------------------------------------------------------------------

def _mini_paths(args) -> Paths:
    """The real pipeline's extract, prepare and features over the archives at hand."""
    return Paths(args.input_dir, args.work_dir / "mini", args.work_dir / "mini" / "submission.csv")


def _bench_paths(args) -> Paths:
    bench = Paths(args.input_dir, args.work_dir / "bench", args.work_dir / "bench" / "submission.csv")
    for folder in (bench.features_dir, bench.model_dir, bench.extract_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return bench


def _install_model(args, bench: Paths) -> None:
    """The trained model of --model-dir; without one, the default model with its initial weights
    (the speed of inference does not depend on the weights)."""
    if bench.model_dir.exists():
        shutil.rmtree(bench.model_dir)
    if args.model_dir:
        shutil.copytree(args.model_dir, bench.model_dir)
        args.model_note = f"trained model from {args.model_dir}"
        return
    from competition.core.labels import LABELS, write_labels
    from competition.inference.ensemble import tta_shifts
    from competition.train.loop import new_model

    settings = project(TrainConfig, Settings())
    bench.model_dir.mkdir(parents=True)
    new_model(settings, 0, 1, len(LABELS)).save(bench.model_file)
    write_labels(bench.labels_file, list(LABELS))
    InferenceConfig(task=settings.task, members=(bench.model_file.name,),
                    tta_shifts=tta_shifts(settings.tta, settings.features, settings.audio), unknown_threshold=0.4,
                    features=settings.features, feature_dtype=settings.feature_dtype,
                    audio=settings.audio).save(bench.inference_config)
    args.model_note = "the default model, untrained (pass --model-dir for a trained one)"


def kaggle_estimate(results: dict[str, dict], settings: Settings, clips_at_hand: int) -> list[str]:
    """Hours for the full competition at the rates measured here. The archives are assumed to
    hold as many MB per clip as the ones at hand."""
    rate = {name: r["items"] / r["seconds"] for name, r in results.items()}
    train_clips = KAGGLE_TRAIN_CLIPS * (1 + settings.silence_share)
    archive_mb = results["extract"]["items"] * (KAGGLE_TRAIN_CLIPS + KAGGLE_TEST_CLIPS) / clips_at_hand
    parts = {
        f"extract (about {archive_mb / 1000:.1f} GB of archives)": archive_mb / rate["extract"],
        "features (train + test)": train_clips / rate["features-train"] + KAGGLE_TEST_CLIPS / rate["features-test"],
        f"train ({settings.epochs} epochs at most)": settings.epochs * train_clips / rate["train-pipeline"],
        "predict": KAGGLE_TEST_CLIPS / rate["predict"],
    }
    lines = [f"  {name}: {seconds / 3600:.2f} h" for name, seconds in parts.items()]
    gpu_bound = settings.epochs * train_clips / rate["train-input"]
    return lines + [f"  total: {sum(parts.values()) / 3600:.2f} h on this machine's {os.cpu_count()} cores",
                    f"  on a GPU, training can be no faster than its input pipeline here: {gpu_bound / 3600:.2f} h "
                    f"for {settings.epochs} epochs (half that with twice the cores feeding it)"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path, required=True, help="folder with the three competition archives")
    parser.add_argument("--work-dir", type=Path, default=REPO / "working" / "scale",
                        help="cache for the Kaggle-sized test set and the stages' outputs (default: working/scale)")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="a trained model folder (e.g. working/model) for predict; default: an untrained one")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="feature processes (default: all cores)")
    parser.add_argument("--clips", type=int, default=KAGGLE_TEST_CLIPS,
                        help="test clips to build (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "scale.csv",
                        help="the table as CSV (default: benchmarks/results/scale.csv)")
    parser.add_argument("--child", choices=MEASURES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work_dir = args.work_dir.resolve()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.child, args)
        return 0

    import logging

    from tqdm import tqdm

    from competition import stages

    logging.basicConfig(level=logging.WARNING)
    mini = _mini_paths(args)
    for stage in ("extract", "prepare", "features"):
        if stages.staleness(stages.stage_by_name(stage), mini, Settings()):
            stages.run(stage, mini, Settings())
    sources = sorted(mini.train_audio_dir.glob("*/*.wav")) + sorted(mini.test_audio_dir.glob("*.wav"))
    sources = [p for p in sources if p.parent.name != "_background_noise_"]
    test_set = build_test_set(sources, args.work_dir / "kaggle-sized-test", args.clips, seed=0)
    # Read every test file once, so the notebook recipe and the pipeline both find them in the
    # page cache, as right after extraction, and neither measures the disk.
    for path in tqdm(sorted((test_set / "audio").glob("*.wav")), desc="warm the page cache", unit="clip"):
        path.read_bytes()

    results = {name: run_child(name, args) for name in MEASURES}
    train = results["train"]
    results = {**{k: v for k, v in results.items() if k != "train"},
               "train-memory": {**train, "seconds": train["memory_seconds"], "note": train["memory_note"]},
               "train-pipeline": train}
    titles = {name: (stage, what) for name, (stage, what, _) in MEASURES.items()}
    titles["train-memory"], titles["train-pipeline"] = ("train", "arrays already in memory"), titles.pop("train")
    reference = results["reference"]["items"] / results["reference"]["seconds"]
    in_memory = results["train-memory"]["items"] / results["train-memory"]["seconds"]
    rows = []
    for name in ("extract", "reference", "features-train", "features-test", "train-memory", "train-pipeline",
                 "train-input", "predict"):
        stage, what = titles[name]
        r = results[name]
        rate = r["items"] / r["seconds"]
        against = reference if stage == "features" else in_memory if name.startswith("train-") else None
        rows.append({"stage": stage, "measurement": what, "items": round(r["items"], 1),
                     "seconds": round(r["seconds"], 1),
                     "rate": round(rate, 1), "unit": r["unit"], "ratio": round(rate / against, 2) if against else None,
                     "ratio_to": ("notebook recipe" if stage == "features"
                                  else "arrays in memory" if stage == "train" else ""),
                     "peak_rss_mb": round(r["peak_rss_mb"]),
                     "workers_peak_rss_mb_at_most": round(r["workers_peak_rss_mb"]),
                     "note": r["note"]})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_colwidth", 90, "display.max_columns", 20):
        report = [table.drop(columns=["note"]).to_string(index=False), ""]
    report += [f"{r['stage']} / {r['measurement']}: {r['note']}" for r in rows]
    report += ["", f"The full competition ({KAGGLE_TRAIN_CLIPS:,} training clips, {KAGGLE_TEST_CLIPS:,} test clips) "
               "at these rates:", *kaggle_estimate(results, Settings(), len(sources))]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, index=False)
    args.output.with_suffix(".txt").write_text("\n".join(report) + "\n")
    print("\n".join(report))
    print(f"\nwrote {args.output} and {args.output.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    from competition.core.native_log import exit_filtered

    exit_filtered(main)  # without the C++ runtime's notices, as run.py
