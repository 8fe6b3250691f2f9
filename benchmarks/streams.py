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
    # 20 minutes in which no command is said: the validation speakers' other words, one by one
    python benchmarks/streams.py negatives --kind words --index WORK/prepare/index.csv --clips WORK/extract \
        --minutes 20 --seed 1 --output words.wav
    # false accepts per hour on negative streams against commands missed, one line per model
    python benchmarks/streams.py det --model default=WORK --negatives words.wav --commands val1.wav \
        --cache cache --output det

`make` takes clips from a solution file (`fname,label`, fname relative to --clips) in the file's
own mix of labels: commands, unknown words and, where the file has them, silence clips. Where it
has none (a training split: its silence is planned from noise files, not recorded), a share of
the events are one-second bursts of a noise file, louder than the bed, labelled silence. Each
clip keeps its recorded level; the gap before it is uniform in [gap-min, gap-max] seconds. The
bed is a chain of stretches of the noise files, each brought to --noise-dbfs RMS (dB full
scale). The labels CSV (`time_s,label`) gives each clip's onset, distractors included.

`negatives` builds a stream in which no command is said, from one split of a prepare index (the
validation split: speakers the model never trained on), over the same noise bed as `make`, with
`make`'s placement: `words`, the split's auxiliary words (never one of the ten commands) one after
another with short pauses; `talk`, "sentences" of two to six of those words and pieces of them
joined without pauses; `noise`, bursts of the noise files (the split's own stretch of each) over
the bed; `synth`, sentences holding no command spoken by espeak-ng in several voices and speeds.
Its labels CSV (`time_s,label,source`) lists what was laid where; none of it is a command.

`score` applies the matching rule of `competition/streaming/operating.py` (a detection matches a
command whose onset is at most 1.75 s before it and not after it, each at most once). It reports the
shares of commands found and correctly named, found with the wrong name and missed, and the
detections that match no command, per minute and per hour; on a negative stream every detection is
a false accept. `det` replays the recogniser over each stream's cached window scores at a list of
thresholds and draws false accepts per hour on the negative streams against the share of commands
missed (not found, or wrongly named), one line per model, each model's default marked.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from competition import PipelineError  # noqa: E402
from competition.core.labels import COMMANDS  # noqa: E402
from competition.streaming import build  # noqa: E402
from competition.streaming.build import RATE, make_stream, negative_stream, validation_solution, write_stream  # noqa: E402,E501
from competition.streaming.figure import plot_det  # noqa: E402
from competition.streaming.operating import (  # noqa: E402
    THRESHOLDS,
    ScoredStream,
    lowest_threshold,
    matched,
    operating_points,
    replay,
    score,
)

# --- negative streams: no command said ----------------------------------------------------------

NEGATIVE_KINDS = (*build.NEGATIVE_KINDS, "synth")
# Sentences for `synth`, none holding one of the ten commands (checked by `command_free`): the
# everyday words around a speaker that share sounds with them (going, upper, offer, yesterday, ...).
SENTENCES = (
    "the kettle is boiling in the kitchen",
    "going upstairs to fetch a blanket",
    "we had pasta with tomatoes for dinner",
    "the offer ends at the weekend",
    "yesterday it rained all afternoon",
    "could you pass me the salt please",
    "my sister lives near the station",
    "the cat sat by the warm window",
    "there is a parcel at the door for you",
    "i think the meeting was moved to friday",
    "the upper shelf is full of books",
    "put the kettle over there",
    "she is going to the market later",
    "did you remember the bread and milk",
    "the bus was late again this morning",
    "those flowers need some water",
    "the children are playing in the garden",
    "it was a lovely walk along the river",
    "we should paint the hall a lighter colour",
    "how much was the ticket to london",
    "the radio was playing an old song",
    "he dropped his keys behind the sofa",
    "the dog barked at the postman",
    "i will call you after lunch",
    "the oven takes a while to warm",
    "seven people came to the party",
    "the shop shuts early every sunday",
    "she laughed at the silly joke",
    "there were apples and pears in the bowl",
    "a bird is singing in the tree outside",
    "the weather forecast says sunny spells",
    "the lift is broken so take the stairs",
    "what time does the film start tonight",
    "the bicycle has a flat tyre",
    "i borrowed a book from the library",
    "the neighbours are having a barbecue",
    "please lower the volume a little",
    "the coffee is too hot to drink",
    "our train departs at half past nine",
    "the window cleaner comes every month",
)
SYNTH_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3", "en-gb+f4", "en-us+m7")
SYNTH_SPEEDS = (130, 155, 180, 205)  # words a minute


def command_free(sentence: str) -> bool:
    """Whether no word of `sentence` is one of the ten commands."""
    import re

    return not set(re.findall(r"[a-z']+", sentence.lower())) & set(COMMANDS)


def synthesize(sentence: str, voice: str, speed: int) -> np.ndarray:
    """`sentence` spoken by espeak-ng at 16 kHz."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "s.wav"
        try:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), sentence], check=True,
                           capture_output=True)
        except FileNotFoundError:
            raise SystemExit("error: espeak-ng is not installed (apt-get install espeak-ng); --kind synth needs "
                             "it") from None
        except subprocess.CalledProcessError as error:
            raise SystemExit(f"error: espeak-ng -v {voice}: {error.stderr.decode().strip()}") from None
        return build.voiced(build.read_mono(wav))


def _synth_events(rng: np.random.Generator) -> Iterator[tuple[np.ndarray, str, str]]:
    """Seeded draws of (sentence, voice, speed), each brought to -30 to -20 dBFS RMS."""
    if unsafe := [sentence for sentence in SENTENCES if not command_free(sentence)]:
        raise SystemExit(f"error: sentences holding a command: {unsafe}")
    spoken: dict[tuple, np.ndarray] = {}
    while True:
        key = (SENTENCES[rng.integers(len(SENTENCES))], SYNTH_VOICES[rng.integers(len(SYNTH_VOICES))],
               SYNTH_SPEEDS[rng.integers(len(SYNTH_SPEEDS))])
        if key not in spoken:
            spoken[key] = synthesize(*key)
        level = 10 ** (rng.uniform(-30, -20) / 20)
        yield spoken[key] * np.float32(level / build.rms(spoken[key])), "unknown", f"{key[1]} {key[2]}: {key[0]}"


SYNTH_GAP = (0.3, 1.2)  # seconds between sentences, as talk's


# --- the scorer (the rule itself: competition/streaming/operating.py) ----------------------------

def format_score(result: dict) -> str:
    if not result["commands"]:  # a negative stream: whatever is detected, nobody said it
        return (f"no commands, {result['detections']} detections: {result['false_per_hour']:.1f} false accepts "
                f"per hour")
    return (f"{result['commands']} commands, {result['detections']} detections: "
            f"{result['correct']:.1%} correct, {result['wrong']:.1%} wrong name, {result['missed']:.1%} missed, "
            f"{result['false_per_min']:.2f} false detections per minute ({result['false_per_hour']:.1f} per hour)")


def heard_before(labels: pd.DataFrame, detections: pd.DataFrame) -> pd.DataFrame:
    """Each detection beside the last event laid before it (its onset, label and source where the labels
    have one): on a negative stream, what the false accept was made of."""
    events = labels.rename(columns={"time_s": "onset_s", "label": "event"}).sort_values("onset_s")
    found = detections.sort_values("time_s").astype({"time_s": float})
    return pd.merge_asof(found, events.astype({"onset_s": float}), left_on="time_s", right_on="onset_s",
                         direction="backward")


def _word(source: str) -> str:
    """A clip's word from its path (train/audio/WORD/...), a piece of it marked *, a talk sentence's words
    in turn; any other source as it is."""
    if " + " in source:
        return " ".join(_word(part) for part in source.split(" + "))
    parts = source.split("/")
    if len(parts) != 4 or parts[0] != "train":
        return source
    return parts[2] + ("*" if "[" in parts[3] else "")


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
    with detections_csv(detections, listener.threshold) as write:
        for detection in listener.run():
            write(detection)
    return {"seconds": listener.seconds, "wall_s": listener.wall_s, "rtf": listener.seconds / listener.wall_s,
            "cpu_s": listener.cpu_s, "cpu_rtf": listener.seconds / listener.cpu_s, "config": config,
            "load": os.getloadavg()[0]}


def stream_windows(stream: Path, audio, hop_ms: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(end times in seconds, windows) of each block of a stream, as --listen cuts them."""
    from competition.device.recognizer import Windows
    from competition.streaming.sources import at_rate, open_source

    windows = Windows(audio.clip_samples, round(hop_ms * audio.sample_rate / 1000))
    for block in at_rate(open_source(stream), audio.sample_rate):
        block_ends, block_windows = windows.push(block)
        if len(block_ends):
            yield block_ends / audio.sample_rate, block_windows


def window_scores(predictor, stream: Path, hop_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """(window end times, scores) of every window of a stream: the model runs once per hop, and
    the recogniser's settings are replayed on the scores."""
    ends, scores = [], []
    for block_ends, block_windows in stream_windows(stream, predictor.config.audio, hop_ms):
        ends.append(block_ends)
        scores.append(predictor.probabilities_of_clips(block_windows, shifts=(0,)))
    return np.concatenate(ends), np.concatenate(scores)


def cached_window_scores(predictor, stream: Path, hop_ms: int, cache: Path | None,
                         model: Path | None = None) -> tuple[np.ndarray, np.ndarray, float | None]:
    """window_scores and the seconds they took (None when read back from `cache`, where they are kept,
    keyed by the stream, the hop, the model's folder and its inference config, for the next sweep)."""
    started = time.perf_counter()
    if cache is None:
        return (*window_scores(predictor, stream, hop_ms), time.perf_counter() - started)
    import hashlib

    from competition.core.io import atomic_path

    trained = f"{model.resolve()}:{model.stat().st_mtime_ns}" if model is not None else ""
    key = hashlib.sha256(f"{stream.resolve()}:{stream.stat().st_mtime_ns}:{hop_ms}:{predictor.config}:{trained}"
                         .encode())
    path = cache / f"{stream.stem}.{hop_ms}ms.{key.hexdigest()[:12]}.npz"
    if path.exists():
        with np.load(path) as saved:
            return saved["ends"], saved["scores"], None
    ends, scores = window_scores(predictor, stream, hop_ms)
    elapsed = time.perf_counter() - started
    with atomic_path(path) as temp:
        np.savez(temp, ends=ends, scores=scores)
    return ends, scores, elapsed


def window_marks(stream: Path, audio, hop_ms: int, pause_ms: int) -> np.ndarray:
    """Each window's whole-word mark (`whole_words`), for the windows `window_scores` scores."""
    from competition.device.recognizer import whole_words

    return np.concatenate([whole_words(windows, audio.sample_rate, pause_ms)
                           for _, windows in stream_windows(stream, audio, hop_ms)])


def stream_labels(stream: Path) -> pd.DataFrame:
    labels = stream.with_name(stream.stem + ".labels.csv")
    if not labels.exists():
        raise SystemExit(f"error: {labels} is missing: expected the labels of {stream} beside it (make or negatives "
                         f"write them)")
    return pd.read_csv(labels, keep_default_na=False)


def scored_streams(predictor, work_dir: Path, streams: list[Path], hop_ms: int,
                   cache: Path | None) -> list[tuple[ScoredStream, float | None]]:
    """Each stream's window scores (from the cache where they are kept) with its labels, and the seconds
    the model took on it (None where read back)."""
    paths = _paths(work_dir)
    scored = []
    for stream in streams:
        ends, scores, elapsed = cached_window_scores(predictor, stream, hop_ms, cache, paths.inference_config)
        scored.append((ScoredStream(stream.stem, ends, scores, stream_labels(stream), _seconds(stream, None)),
                       elapsed))
    return scored


def _commands(predictor) -> list[str]:
    task = predictor.task
    return [label for label in predictor.labels if label not in (task.silence_label, task.unknown_label)]


def sweep(work_dir: Path, streams: list[Path], hops: list[int], averages: list[int], thresholds: list[float],
          suppressions: list[int], peaks: list[int], engine: str = "keras", cache: Path | None = None) -> pd.DataFrame:
    from competition.core.config import ListenConfig
    from competition.device.recognizer import Recognizer
    from competition.inference.predictor import Predictor

    predictor = Predictor.load(_paths(work_dir), engine, listening=True)
    commands = _commands(predictor)
    rows = []
    for hop in hops:
        scored = scored_streams(predictor, work_dir, streams, hop, cache)
        # the model's own real-time factor at this hop, where it ran now (not read from the cache)
        timed = [(s.seconds, elapsed) for s, elapsed in scored if elapsed is not None]
        model_rtf = sum(t[0] for t in timed) / sum(t[1] for t in timed) if timed else float("nan")
        for average, threshold, suppression, peak in itertools.product(averages, thresholds, suppressions, peaks):
            if average < hop or 0 < peak < hop:
                continue
            config = ListenConfig(engine=engine, listen_hop_ms=hop, listen_average_ms=average,
                                  listen_threshold=threshold, listen_suppression_ms=suppression, listen_peak_ms=peak)
            results = [score(s.labels, replay(Recognizer.configured(predictor.labels, commands, config), s.times,
                                              s.scores), s.seconds) for s, _ in scored]
            mean = {key: float(np.mean([r[key] for r in results]))
                    for key in ("correct", "wrong", "missed", "false_per_min")}
            rows.append({"hop_ms": hop, "average_ms": average, "threshold": threshold, "suppression_ms": suppression,
                         "peak_ms": peak, **mean, "model_rtf": model_rtf})
    return pd.DataFrame(rows)


# --- the DET curve: false accepts per hour against commands missed ------------------------------

def load_scored(work_dir: Path, streams: list[Path], engine: str, hop_ms: int,
                cache: Path | None) -> tuple[list[str], list[str], list[ScoredStream]]:
    """A trained model's class order, its commands, and its window scores of each stream."""
    from competition.inference.predictor import Predictor

    predictor = Predictor.load(_paths(work_dir), engine, listening=True)
    scored = scored_streams(predictor, work_dir, streams, hop_ms, cache)
    return predictor.labels, _commands(predictor), [stream for stream, _ in scored]


def det_points(models: list[tuple[str, Path]], negatives: list[Path], commands: list[Path], thresholds: list[float],
               engine: str = "keras", cache: Path | None = None, pauses: list[int] | None = None) -> pd.DataFrame:
    """`operating_points` of each model (its recogniser at its default settings, the threshold swept),
    with `model` and `default` (the threshold --listen uses with that model by default: its operating
    point, where --stage operating measured one) columns."""
    from competition.core.config import ListenConfig, Settings, project
    from competition.device.operating_point import resolve
    from competition.inference.config import InferenceConfig

    tables = []
    for name, work_dir in models:
        config, _ = resolve(project(ListenConfig, Settings(engine=engine)), _paths(work_dir).operating_points)
        labels, commands_of_model, scored = load_scored(work_dir, [*negatives, *commands], engine,
                                                        config.listen_hop_ms, cache)
        if said := [s.name for s in scored[:len(negatives)] if not s.negative]:
            raise SystemExit(f"error: --negatives {', '.join(said)}: their labels hold commands")
        swept = sorted({*map(float, thresholds), config.listen_threshold})
        pauses_here = pauses or [config.listen_pause_ms]
        audio = InferenceConfig.load(_paths(work_dir).inference_config).audio if any(pauses_here) else None
        for pause in pauses_here:
            marked = [dataclasses.replace(s, whole=window_marks(path, audio, config.listen_hop_ms, pause) if pause
                                          else None) for s, path in zip(scored, [*negatives, *commands])]
            table = operating_points(marked, labels, commands_of_model, config, swept)
            table.insert(0, "model", name if pauses is None else f"{name} pause {pause} ms")
            table["default"] = np.isclose(table["threshold"], config.listen_threshold)
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _model(text: str) -> tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=WORK_DIR")
    return name, Path(folder)


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
    p = commands.add_parser("negatives", help="a long recording in which no command is said, from one split")
    p.add_argument("--kind", choices=NEGATIVE_KINDS, required=True,
                   help="words: other words with short pauses; talk: words and pieces of words joined into "
                        "sentences; noise: bursts of the noise files; synth: sentences spoken by espeak-ng")
    p.add_argument("--index", type=Path, required=True, help="a prepare index (path,word,label,speaker,split,...)")
    p.add_argument("--clips", type=Path, required=True, help="the extract folder the index's paths start in")
    p.add_argument("--split", default="validation",
                   help="whose words: validation (speakers held out of training, the default) or train")
    p.add_argument("--noise", type=Path, default=None,
                   help="folder of background-noise recordings (default: CLIPS/train/audio/_background_noise_); "
                        "each file's stretch of the split is used")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise-dbfs", type=float, default=-50.0, help="the noise bed's RMS in dB full scale")
    p.add_argument("--output", type=Path, required=True, help="the WAV; the labels go to <stem>.labels.csv beside it")
    p = commands.add_parser("score", help="detections against a stream's labels")
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--detections", type=Path, required=True)
    p.add_argument("--audio", type=Path, default=None, help="the stream, for its length")
    p.add_argument("--seconds", type=float, default=None, help="the stream's length, instead of --audio")
    p.add_argument("--sources", action="store_true",
                   help="also count the detections by what was laid last before each (a negative stream's "
                        "labels name the word, sentence or noise file) and the label they were given")
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
    p = commands.add_parser("det", help="false accepts per hour on negative streams against commands missed, "
                                        "over thresholds, one line per model: CSV and PNG")
    p.add_argument("--model", type=_model, nargs="+", required=True, metavar="LABEL=WORK_DIR",
                   help="each model's legend label and work folder")
    p.add_argument("--negatives", type=Path, nargs="+", required=True, help="streams with no command (negatives)")
    p.add_argument("--commands", type=Path, nargs="+", required=True, help="streams of commands (make)")
    p.add_argument("--threshold", type=float, nargs="+", default=list(THRESHOLDS),
                   help="thresholds to replay (the default's is always added; default 0.30 to 0.98 by 0.02, then "
                        "0.99 to 0.99999)")
    p.add_argument("--most-per-hour", type=float, nargs="+", default=[1.0, 5.0],
                   help="print each model's lowest threshold with at most this many false accepts per hour")
    p.add_argument("--engine", default="keras")
    p.add_argument("--cache", type=Path, default=None, help="keep each stream's window scores here")
    p.add_argument("--pause-ms", type=int, nargs="+", default=None,
                   help="a line per model and pause: only windows holding a whole word with this much quiet around "
                        "it may start a detection (0: every window); default: --listen-pause-ms's default alone")
    p.add_argument("--against", type=Path, nargs="+", default=[],
                   help="earlier det CSVs (benchmarks/det-tables/) drawn beside the models, their rows written "
                        "again; only comparable on the same streams")
    p.add_argument("--output", type=Path, default=Path("benchmarks/results/det"),
                   help="writes OUTPUT.csv and OUTPUT.png")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except PipelineError as error:  # the package's errors name the file and what was wrong: no traceback
        raise SystemExit(f"error: {error}") from None


def _run(args: argparse.Namespace) -> int:
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
    elif args.command == "negatives":
        synth = {"events": _synth_events, "gap": SYNTH_GAP} if args.kind == "synth" else {}
        samples, labels = negative_stream(args.kind, args.index, args.clips, args.split, args.minutes, args.seed,
                                          args.noise_dbfs, args.noise, **synth)
        labels_path = write_stream(args.output, samples, labels)
        print(f"{args.output}: {len(samples) / RATE:.0f} s of {args.kind} from split {args.split}; {labels_path}: "
              f"{len(labels)} events, none a command")
    elif args.command == "score":
        labels = pd.read_csv(args.labels, keep_default_na=False)
        detections = pd.read_csv(args.detections, keep_default_na=False)
        print(format_score(score(labels, detections, _seconds(args.audio, args.seconds))))
        if args.sources:
            heard = heard_before(labels, detections)
            heard["heard"] = (heard["source"] if "source" in heard else heard["event"]).fillna("").map(_word)
            table = heard.groupby(["heard", "label"]).size().rename("detections").reset_index()
            print(table.sort_values("detections", ascending=False, kind="stable").head(20).to_string(index=False))
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
    elif args.command == "det":
        from competition.core.io import atomic_path

        earlier = [pd.read_csv(path) for path in args.against]
        if clash := sorted({name for name, _ in args.model} & {name for table in earlier for name in table["model"]}):
            raise SystemExit(f"error: --against holds models named {', '.join(clash)} too; give --model another label")
        points = det_points(args.model, args.negatives, args.commands, args.threshold, args.engine, args.cache,
                            args.pause_ms)
        points = pd.concat([*earlier, points], ignore_index=True)
        csv_path, png_path = args.output.with_suffix(".csv"), args.output.with_suffix(".png")
        with atomic_path(csv_path) as temp:
            points.to_csv(temp, index=False, float_format="%.5g")
        plot_det(points, png_path)
        for name, rows in points.groupby("model", sort=False):
            default = rows[rows["default"]].iloc[0]
            print(f"{name}: default threshold {default['threshold']:g}: {default['false_accepts_per_hour']:.1f} "
                  f"false accepts per hour, {default['missed']:.1%} of {default['commands']} commands missed "
                  f"({default['not_found']:.1%} not found, {default['wrong']:.1%} wrongly named)")
            prefix = "false_accepts_per_hour."
            each = [f"{column.removeprefix(prefix)} {default[column]:.1f}"
                    for column in rows if column.startswith(prefix)]
            print(f"  false accepts per hour by stream: {', '.join(each)}")
            for most in args.most_per_hour:
                chosen = lowest_threshold(rows, most)
                at = rows[rows["threshold"] == chosen].iloc[0] if chosen is not None else None
                print(f"  at most {most:g} per hour: " + (f"threshold {chosen:g}, {at['missed']:.1%} missed"
                                                            if at is not None else "no threshold swept"))
        print(f"{csv_path}, {png_path}")
    return 0


if __name__ == "__main__":
    from competition.core.native_log import exit_filtered

    exit_filtered(main)  # without the C++ runtime's notices, as run.py
