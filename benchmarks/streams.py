#!/usr/bin/env python
"""A streaming test you can rerun: long recordings built from labelled clips, and their score.

    # the held-out validation clips of a finished run, as a solution file
    python benchmarks/streams.py solution --index WORK/prepare/index.csv --split validation --output val.csv
    # a 10-minute stream: clips at seeded random times over background noise, and its labels
    python benchmarks/streams.py make --solution val.csv --clips WORK/extract \\
        --noise WORK/extract/train/audio/_background_noise_ --minutes 10 --seed 1 --output val1.wav
    # listen on one core (TensorFlow and numpy on one thread), report the real-time factor
    taskset -c 0 python benchmarks/streams.py listen --work-dir WORK --stream val1.wav --detections det.csv
    # score the detections against the labels
    python benchmarks/streams.py score --labels val1.labels.csv --detections det.csv --audio val1.wav
    # choose the recogniser's settings on validation streams (never on the test's labels)
    python benchmarks/streams.py sweep --work-dir WORK --stream val1.wav val2.wav

`make` takes clips from a solution file (`fname,label`, fname relative to --clips) in the file's
own mix of labels: commands, unknown words and, where the file has them, silence clips. Where it
has none (a training split: its silence is planned from noise files, not recorded), a share of
the events are one-second bursts of a noise file, louder than the bed, labelled silence. Each
clip keeps its recorded level; the gap before it is uniform in [gap-min, gap-max] seconds. The
bed is a chain of stretches of the noise files, each brought to --noise-dbfs RMS (dB full
scale). The labels CSV (`time_s,label`) gives each clip's onset, distractors included.

`score` applies the matching rule: a detection matches a command (one of the ten) whose onset is
at most 1.75 s before it and not after it; each command and each detection is matched at most
once. Among the matchings allowed, the one with the most matches is taken, and among those the
one with the most correct names (an assignment problem, solved exactly). It reports the shares of
commands found and correctly named, found with the wrong name and missed, and the detections that
match no command, per minute.
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from competition.core.labels import COMMANDS  # noqa: E402

RATE = 16_000
TOLERANCE_S = 1.75
EPSILON_S = 1e-6  # times are written to the millisecond: "exactly 1.75 s" must still match


# --- the validation solution file ---------------------------------------------------------------

def validation_solution(index: Path, split: str) -> pd.DataFrame:
    """`fname,label` of the recorded clips of one split of a prepare index (its planned silence
    windows are not files of their own, so they are left out)."""
    table = pd.read_csv(index, keep_default_na=False)
    rows = table[(table["split"] == split) & (table["kind"] == "clip")]
    if rows.empty:
        raise SystemExit(f"error: {index}: no recorded clips in split {split!r}")
    return rows[["path", "label"]].rename(columns={"path": "fname"}).reset_index(drop=True)


# --- the generator ------------------------------------------------------------------------------

def _read_mono(path: Path, rate: int = RATE) -> np.ndarray:
    from competition.frontend.audio import read_wav

    source_rate, samples = read_wav(path)
    if source_rate != rate:
        import scipy.signal

        divisor = math.gcd(source_rate, rate)
        samples = scipy.signal.resample_poly(samples, rate // divisor, source_rate // divisor).astype(np.float32)
    return samples


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) or 1e-12


def noise_bed(noises: list[np.ndarray], length: int, level_rms: float, rng: np.random.Generator) -> np.ndarray:
    """Stretches of 5 to 20 s of random noise files at random starts, each at `level_rms`,
    joined with 20 ms ramps so the joins do not click."""
    bed = np.zeros(length, np.float32)
    ramp = int(0.02 * RATE)
    at = 0
    while at < length:
        noise = noises[rng.integers(len(noises))]
        size = min(int(rng.uniform(5, 20) * RATE), len(noise), length - at)
        start = int(rng.integers(0, len(noise) - size + 1))
        piece = noise[start:start + size] * np.float32(level_rms / _rms(noise[start:start + size]))
        if size > 2 * ramp:
            envelope = np.ones(size, np.float32)
            envelope[:ramp] = np.linspace(0, 1, ramp)
            envelope[-ramp:] = np.linspace(1, 0, ramp)
            piece = piece * envelope
        bed[at:at + size] = piece
        at += size
    return bed


def make_stream(solution: pd.DataFrame, clips: Path, noise_folder: Path, minutes: float, seed: int,
                noise_dbfs: float = -50.0, gap: tuple[float, float] = (0.5, 2.5),
                silence_share: float = 0.1) -> tuple[np.ndarray, pd.DataFrame]:
    """(samples at 16 kHz, labels `time_s,label`), both fixed by the seed."""
    from competition.frontend.audio import audio_files

    rng = np.random.default_rng(seed)
    length = int(round(minutes * 60 * RATE))
    noise_files = audio_files(noise_folder)
    if not noise_files:
        raise SystemExit(f"error: {noise_folder}: no noise recordings (.wav, .flac, .ogg); expected background noise")
    noises = [_read_mono(path) for path in noise_files]
    level = 10 ** (noise_dbfs / 20)
    stream = noise_bed(noises, length, level, rng)
    rows = solution.iloc[rng.permutation(len(solution))].itertuples(index=False)
    bursts = silence_share if not (solution["label"] == "silence").any() else 0.0
    events = []
    ms = RATE // 1000  # onsets on whole milliseconds, so that the labels' times are exact

    def gap_samples() -> int:
        return int(rng.uniform(*gap) * 1000) * ms

    at = gap_samples()
    while True:
        if rng.random() < bursts:
            noise = noises[rng.integers(len(noises))]
            start = int(rng.integers(0, len(noise) - RATE + 1))
            burst = noise[start:start + RATE]
            # from the bed's level up to -20 dBFS (or 20 dB over the bed where that is louder): a tap, a door
            loudness = 10 ** (rng.uniform(noise_dbfs, max(noise_dbfs + 20, -20.0)) / 20)
            clip, label = burst * np.float32(loudness / _rms(burst)), "silence"
        else:
            row = next(rows, None)
            if row is None:
                print(f"warning: the {len(solution)} clips ran out at {at / RATE:.0f} s", file=sys.stderr)
                break
            clip, label = _read_mono(clips / row.fname), row.label
        if at + len(clip) + int(gap[0] * RATE) > length:
            break
        stream[at:at + len(clip)] += clip
        events.append((at // ms / 1000, label))
        at += -(-len(clip) // ms) * ms + gap_samples()
    np.clip(stream, -1.0, 1.0, out=stream)
    return stream, pd.DataFrame(events, columns=["time_s", "label"])


def write_stream(path: Path, samples: np.ndarray, labels: pd.DataFrame, rate: int = RATE, channels: int = 1) -> Path:
    """The WAV (16-bit PCM, at `rate`, `channels` copies of the signal) and `<stem>.labels.csv` beside it."""
    import soundfile

    if rate != RATE:
        import scipy.signal

        divisor = math.gcd(rate, RATE)
        samples = scipy.signal.resample_poly(samples, rate // divisor, RATE // divisor).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    soundfile.write(path, data, rate, subtype="PCM_16")
    labels_path = path.with_name(path.stem + ".labels.csv")
    labels.to_csv(labels_path, index=False, float_format="%.3f")
    return labels_path


# --- the scorer ---------------------------------------------------------------------------------

def match(onsets: np.ndarray, truth: np.ndarray, times: np.ndarray, found: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (command, detection): onset <= detection time <= onset + 1.75 s, each side used at
    most once; the most pairs, and among those the most correctly named."""
    from scipy.optimize import linear_sum_assignment

    if not len(onsets) or not len(times):
        return []
    onsets, times = np.asarray(onsets, float), np.asarray(times, float)
    truth, found = np.array(truth, dtype=str), np.array(found, dtype=str)
    delay = times[None, :] - onsets[:, None]
    allowed = (delay >= -EPSILON_S) & (delay <= TOLERANCE_S + EPSILON_S)
    # a pair is worth more than any number of correct names among the others
    weight = np.where(allowed, len(onsets) + 1 + (truth[:, None] == found[None, :]), 0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]


PAIR_COLUMNS = ["onset_s", "label", "time_s", "found", "delay_s", "confidence"]


def matched(labels: pd.DataFrame, detections: pd.DataFrame) -> pd.DataFrame:
    """The pairs `score` counts, one row each: the command's onset and label, the detection's time and
    label, how long after the onset it came, and its confidence (empty where the detections have none)."""
    commands = labels[labels["label"].isin(COMMANDS)].sort_values("time_s")
    onsets, truth = commands["time_s"].to_numpy(float), commands["label"].to_numpy(str)
    times, found = detections["time_s"].to_numpy(float), detections["label"].to_numpy(str)
    confidence = (detections["confidence"].to_numpy(float) if "confidence" in detections
                  else np.full(len(detections), np.nan))
    rows = [(onsets[r], truth[r], times[c], found[c], times[c] - onsets[r], confidence[c])
            for r, c in match(onsets, truth, times, found)]
    return pd.DataFrame(rows, columns=PAIR_COLUMNS).sort_values("onset_s", ignore_index=True)


def score(labels: pd.DataFrame, detections: pd.DataFrame, seconds: float) -> dict:
    pairs = matched(labels, detections)
    n_commands = int(labels["label"].isin(COMMANDS).sum())
    correct = int((pairs["label"] == pairs["found"]).sum())
    n = max(n_commands, 1)
    return {"commands": n_commands, "detections": len(detections), "correct": correct / n,
            "wrong": (len(pairs) - correct) / n, "missed": (n_commands - len(pairs)) / n,
            "false_per_min": (len(detections) - len(pairs)) / (seconds / 60)}


def format_score(result: dict) -> str:
    return (f"{result['commands']} commands, {result['detections']} detections: "
            f"{result['correct']:.1%} correct, {result['wrong']:.1%} wrong name, {result['missed']:.1%} missed, "
            f"{result['false_per_min']:.2f} false detections per minute")


def _seconds(audio: Path | None, seconds: float | None) -> float:
    if seconds:
        return seconds
    if audio is None:
        raise SystemExit("error: give --audio (the stream) or --seconds (its length) to count false detections "
                         "per minute")
    from competition.frontend.audio import wav_seconds

    return wav_seconds(audio)


# --- listening on one core, and the sweep that chooses the defaults -----------------------------

def one_thread() -> None:
    """TensorFlow and numpy's BLAS on one thread each: with `taskset -c 0`, one core's speed."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                 "TF_NUM_INTEROP_THREADS"):
        os.environ[name] = "1"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _paths(work_dir: Path):
    from competition.core.paths import Paths

    return Paths(input_dir=Path("."), work_dir=work_dir, output=work_dir / "unused.csv")


def listen(work_dir: Path, stream: Path, detections: Path, engine: str = "keras", **overrides) -> dict:
    from competition.core.config import ListenConfig, Settings, project
    from competition.streaming.listen import Listener, detections_csv

    config = project(ListenConfig, Settings(engine=engine, **overrides))
    listener = Listener(_paths(work_dir), config, stream)
    with detections_csv(detections) as write:
        for detection in listener.run():
            write(detection)
    return {"seconds": listener.seconds, "wall_s": listener.wall_s, "rtf": listener.seconds / listener.wall_s,
            "cpu_s": listener.cpu_s, "cpu_rtf": listener.seconds / listener.cpu_s, "config": config,
            "load": os.getloadavg()[0]}


def window_scores(predictor, stream: Path, hop_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """(window end times, scores) of every window of a stream: the model runs once per hop, and
    the recogniser's settings are replayed on the scores."""
    from competition.device.recognizer import Windows
    from competition.streaming.sources import at_rate, open_source

    audio = predictor.config.audio
    windows = Windows(audio.clip_samples, round(hop_ms * audio.sample_rate / 1000))
    ends, scores = [], []
    for block in at_rate(open_source(stream), audio.sample_rate):
        block_ends, block_windows = windows.push(block)
        if len(block_ends):
            ends.append(block_ends / audio.sample_rate)
            scores.append(predictor.probabilities_of_clips(block_windows, shifts=(0,)))
    return np.concatenate(ends), np.concatenate(scores)


def cached_window_scores(predictor, stream: Path, hop_ms: int,
                         cache: Path | None) -> tuple[np.ndarray, np.ndarray, float | None]:
    """window_scores and the seconds they took (None when read back from `cache`, where they are kept,
    keyed by the stream, the hop and the model's inference config, for the next sweep)."""
    started = time.perf_counter()
    if cache is None:
        return (*window_scores(predictor, stream, hop_ms), time.perf_counter() - started)
    import hashlib

    key = hashlib.sha256(f"{stream.resolve()}:{stream.stat().st_mtime_ns}:{hop_ms}:{predictor.config}".encode())
    path = cache / f"{stream.stem}.{hop_ms}ms.{key.hexdigest()[:12]}.npz"
    if path.exists():
        with np.load(path) as saved:
            return saved["ends"], saved["scores"], None
    ends, scores = window_scores(predictor, stream, hop_ms)
    elapsed = time.perf_counter() - started
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, ends=ends, scores=scores)
    return ends, scores, elapsed


def sweep(work_dir: Path, streams: list[Path], hops: list[int], averages: list[int], thresholds: list[float],
          suppressions: list[int], peaks: list[int], engine: str = "keras", cache: Path | None = None) -> pd.DataFrame:
    from competition.core.config import ListenConfig
    from competition.device.recognizer import Recognizer
    from competition.inference.predictor import Predictor

    predictor = Predictor.load(_paths(work_dir), engine)
    task = predictor.task
    commands = [label for label in predictor.labels if label not in (task.silence_label, task.unknown_label)]
    rows = []
    for hop in hops:
        scored = []
        for stream in streams:
            ends, scores, elapsed = cached_window_scores(predictor, stream, hop, cache)
            labels = pd.read_csv(stream.with_name(stream.stem + ".labels.csv"), keep_default_na=False)
            scored.append((ends, scores, labels, _seconds(stream, None), elapsed))
        # the model's own real-time factor at this hop, where it ran now (not read from the cache)
        timed = [(s[3], s[4]) for s in scored if s[4] is not None]
        model_rtf = sum(t[0] for t in timed) / sum(t[1] for t in timed) if timed else float("nan")
        for average, threshold, suppression, peak in itertools.product(averages, thresholds, suppressions, peaks):
            if average < hop or 0 < peak < hop:
                continue
            config = ListenConfig(engine=engine, listen_hop_ms=hop, listen_average_ms=average,
                                  listen_threshold=threshold, listen_suppression_ms=suppression, listen_peak_ms=peak)
            results = []
            for ends, scores, labels, seconds, _ in scored:
                recognizer = Recognizer.configured(predictor.labels, commands, config)
                found = [(d.time_s, d.label) for d in recognizer.run(ends, scores)]
                if (last := recognizer.finish()) is not None:
                    found.append((last.time_s, last.label))
                found = pd.DataFrame(found, columns=["time_s", "label"])
                results.append(score(labels, found, seconds))
            mean = {key: float(np.mean([r[key] for r in results]))
                    for key in ("correct", "wrong", "missed", "false_per_min")}
            rows.append({"hop_ms": hop, "average_ms": average, "threshold": threshold, "suppression_ms": suppression,
                         "peak_ms": peak, **mean, "model_rtf": model_rtf})
    return pd.DataFrame(rows)


# --- the command line ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("solution", help="a split of a prepare index as a solution file fname,label")
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--split", default="validation")
    p.add_argument("--output", type=Path, required=True)
    p = commands.add_parser("make", help="a long recording and its labels from a solution file and its clips")
    p.add_argument("--solution", type=Path, required=True, help="fname,label; fname relative to --clips")
    p.add_argument("--clips", type=Path, required=True)
    p.add_argument("--noise", type=Path, required=True, help="folder of background-noise recordings")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise-dbfs", type=float, default=-50.0,
                   help="the noise bed's RMS in dB full scale (kaggle-mini's noise files, as recorded: -45 to -53)")
    p.add_argument("--gap", type=float, nargs=2, default=(0.5, 2.5), metavar=("MIN", "MAX"),
                   help="seconds between one clip's end and the next one's onset, uniform")
    p.add_argument("--silence-share", type=float, default=0.1,
                   help="share of events that are noise bursts labelled silence, when the solution has no silence")
    p.add_argument("--rate", type=int, default=RATE, help="the WAV's sample rate")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--output", type=Path, required=True, help="the WAV; the labels go to <stem>.labels.csv beside it")
    p = commands.add_parser("score", help="detections against a stream's labels")
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--detections", type=Path, required=True)
    p.add_argument("--audio", type=Path, default=None, help="the stream, for its length")
    p.add_argument("--seconds", type=float, default=None, help="the stream's length, instead of --audio")
    p.add_argument("--wrong", action="store_true",
                   help="also list each command found with the wrong name: its onset and label, the detection's "
                        "time, label and confidence, and how long after the onset it came")
    p = commands.add_parser("listen", help="--listen on one thread, with its real-time factor and score")
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--stream", type=Path, required=True)
    p.add_argument("--detections", type=Path, required=True)
    p.add_argument("--engine", default="keras")
    p = commands.add_parser("sweep", help="score the recogniser's settings on streams (choose on validation only)")
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--stream", type=Path, nargs="+", required=True, help="streams with <stem>.labels.csv beside")
    p.add_argument("--hop-ms", type=int, nargs="+", default=[100, 150, 200])
    p.add_argument("--average-ms", type=int, nargs="+", default=[300, 500, 700, 1000])
    p.add_argument("--threshold", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    p.add_argument("--suppression-ms", type=int, nargs="+", default=[750, 1000, 1250, 1500])
    p.add_argument("--peak-ms", type=int, nargs="+", default=[0, 200, 400])
    p.add_argument("--cache", type=Path, default=None, help="keep each stream's window scores here for the next sweep")
    p.add_argument("--output", type=Path, default=Path("benchmarks/results/listen_sweep.csv"))
    args = parser.parse_args(argv)

    if args.command == "solution":
        table = validation_solution(args.index, args.split)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.output, index=False)
        print(f"{args.output}: {len(table)} clips, {table['label'].value_counts().to_dict()}")
    elif args.command == "make":
        solution = pd.read_csv(args.solution, keep_default_na=False)
        samples, labels = make_stream(solution, args.clips, args.noise, args.minutes, args.seed, args.noise_dbfs,
                                      tuple(args.gap), args.silence_share)
        labels_path = write_stream(args.output, samples, labels, args.rate, args.channels)
        print(f"{args.output}: {len(samples) / RATE:.0f} s; {labels_path}: {len(labels)} onsets, "
              f"{labels['label'].isin(COMMANDS).sum()} of them commands")
    elif args.command == "score":
        labels = pd.read_csv(args.labels, keep_default_na=False)
        detections = pd.read_csv(args.detections, keep_default_na=False)
        print(format_score(score(labels, detections, _seconds(args.audio, args.seconds))))
        if args.wrong:
            pairs = matched(labels, detections)
            wrong = pairs[pairs["label"] != pairs["found"]]
            print(f"{len(wrong)} wrong names" + (":\n" + wrong.to_string(index=False, float_format="%.2f")
                                                  if len(wrong) else ""))
    elif args.command == "listen":
        one_thread()
        result = listen(args.work_dir, args.stream, args.detections, args.engine)
        labels = pd.read_csv(args.stream.with_name(args.stream.stem + ".labels.csv"), keep_default_na=False)
        detections = pd.read_csv(args.detections, keep_default_na=False)
        print(f"{result['seconds']:.0f} s of audio in {result['wall_s']:.1f} s: {result['rtf']:.1f}x real time; "
              f"{result['cpu_s']:.1f} s of CPU time: {result['cpu_rtf']:.1f}x (load average {result['load']:.1f} "
              f"at the end) ({result['config']})")
        print(format_score(score(labels, detections, result["seconds"])))
    elif args.command == "sweep":
        table = sweep(args.work_dir, args.stream, args.hop_ms, args.average_ms, args.threshold, args.suppression_ms,
                      args.peak_ms, cache=args.cache)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.output, index=False, float_format="%.4f")
        with pd.option_context("display.width", 200, "display.max_rows", 40):
            print(table.sort_values("correct", ascending=False).head(30).to_string(index=False))
        print(f"all {len(table)} rows: {args.output}")
    return 0


if __name__ == "__main__":
    from competition.core.native_log import exit_filtered

    exit_filtered(main)  # without the C++ runtime's notices, as run.py
