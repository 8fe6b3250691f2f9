"""--stage operating: how often the trained model's listener names a command nobody said, and how
many commands it misses, at each threshold, measured on streams of the validation speakers.

The streams are built afresh from the validation split (speakers and noise the model never trained
on): negative streams of the split's other words one by one, of "talk" (those words and pieces of
them run together) and of noise bursts, and command streams of the split's clips. The model scores
every window once; the recogniser is replayed over the scores at each threshold. The table (one
row per threshold: false accepts an hour, commands missed, each stream's rate, the recogniser's
other settings) is what `--listen --false-accepts-per-hour N` and the export choose their threshold
from; the figure is its DET curve. A task without silence and unknown classes has no listener: its
table is left with the header alone.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..core.config import FALSE_ACCEPTS_PER_HOUR, ListenConfig, OperatingConfig
from ..core.io import atomic_path
from ..core.labels import BACKGROUND_NOISE_DIR
from ..core.paths import Paths
from ..data.prepare import VALIDATION
from ..device.operating_point import COLUMNS, RECOGNISER, choose
from ..device.recognizer import Windows, whole_words
from ..device.sources import Source, at_rate
from ..inference.predictor import Predictor
from .build import RATE, make_stream, negative_stream, validation_solution
from .figure import plot_det
from .operating import THRESHOLDS, ScoredStream, operating_points

log = logging.getLogger(__name__)

# what the negative minutes are made of: people saying other words, talking, and noise
NEGATIVE_SHARES = {"words": 0.4, "talk": 0.4, "noise": 0.2}
COMMAND_STREAMS = 2  # each a quarter of the negative minutes
# a command stream places a clip about every 2.5 s; at 2 s a clip, a small split's clips never run out
SECONDS_PER_COMMAND = 2.0
SECONDS_PER_BLOCK = 2


def measure_operating_points(paths: Paths, config: OperatingConfig) -> None:
    predictor = Predictor.load(paths, "keras", listening=True)  # the scores --listen thresholds
    task = predictor.task
    paths.operating_dir.mkdir(parents=True, exist_ok=True)
    if task.silence_label is None or task.unknown_label is None:
        log.info("task %s has no silence and unknown classes, so no listener: no operating points", task.name)
        with atomic_path(paths.operating_points) as temp:
            temp.write_text(",".join((*COLUMNS, "negative_hours", *RECOGNISER)) + "\n")
        paths.operating_plot.unlink(missing_ok=True)
        return
    streams = _streams(paths, config)
    listen = ListenConfig(engine="keras", listen_threshold=None, **{name: getattr(config, name)
                                                                     for name in RECOGNISER})
    commands = [label for label in predictor.labels if label not in (task.silence_label, task.unknown_label)]
    scored = _score(predictor, streams, config.listen_hop_ms, config.listen_pause_ms)
    points = operating_points(scored, predictor.labels, commands, listen, THRESHOLDS)
    for name in RECOGNISER:
        points[name] = getattr(config, name)
    with atomic_path(paths.operating_points) as temp:
        points.to_csv(temp, index=False, float_format="%.6g")
    chosen = choose(points[[*COLUMNS, "negative_hours"]].to_dict("records"), FALSE_ACCEPTS_PER_HOUR)
    plot_det(points.assign(model=f"seed {config.seed}", default=np.isclose(points["threshold"], chosen.threshold)),
             paths.operating_plot)
    at_least = points.iloc[0]
    log.info("at threshold %g: %.0f false accepts an hour, %.1f %% of the commands missed", at_least["threshold"],
             at_least["false_accepts_per_hour"], 100 * at_least["missed"])
    log.info("at the default of --false-accepts-per-hour (%g): %s", FALSE_ACCEPTS_PER_HOUR, chosen.describe())


def _streams(paths: Paths, config: OperatingConfig) -> list[tuple[str, np.ndarray, pd.DataFrame]]:
    """(name, 16 kHz samples, labels) of every stream, each drawn with a seed of its own."""
    noise = paths.train_audio_dir / BACKGROUND_NOISE_DIR
    streams = []
    for offset, (kind, share) in enumerate(NEGATIVE_SHARES.items(), start=1):
        samples, labels = negative_stream(kind, paths.index_csv, paths.extract_dir, VALIDATION,
                                          share * config.operating_minutes, config.seed + offset, noise_folder=noise)
        streams.append((kind, samples, labels))
    solution = validation_solution(paths.index_csv, VALIDATION)
    minutes = min(config.operating_minutes / 4, len(solution) * SECONDS_PER_COMMAND / 60)
    for number in range(1, COMMAND_STREAMS + 1):
        samples, labels = make_stream(solution, paths.extract_dir, noise, minutes,
                                      config.seed + len(NEGATIVE_SHARES) + number)
        streams.append((f"commands{number}", samples, labels))
    return streams


def _score(predictor: Predictor, streams: list[tuple[str, np.ndarray, pd.DataFrame]],
           hop_ms: int, pause_ms: int) -> list[ScoredStream]:
    """Every window of every stream scored once, a hop apart, and marked whole or not, as --listen does."""
    audio = predictor.config.audio
    total = sum(len(samples) for _, samples, _ in streams) / RATE
    scored, heard = [], 0.0
    with tqdm(total=round(total), desc="operating points", unit="s") as progress:
        for name, samples, labels in streams:
            blocks = (samples[at:at + SECONDS_PER_BLOCK * RATE]
                      for at in range(0, len(samples), SECONDS_PER_BLOCK * RATE))
            windows = Windows(audio.clip_samples, max(1, round(hop_ms * audio.sample_rate / 1000)))
            ends, scores, whole = [], [], []
            for block in at_rate(Source(name, RATE, blocks, len(samples) / RATE), audio.sample_rate):
                block_ends, block_windows = windows.push(block)
                if len(block_ends):
                    ends.append(block_ends / audio.sample_rate)
                    scores.append(predictor.probabilities_of_clips(block_windows, shifts=(0,)))
                    if pause_ms:
                        whole.append(whole_words(block_windows, audio.sample_rate, pause_ms))
                heard += len(block) / audio.sample_rate
                progress.update(round(heard) - progress.n)  # whole seconds: a bar of fractions reads as noise
            scored.append(ScoredStream(name, np.concatenate(ends), np.concatenate(scores), labels,
                                       len(samples) / RATE, np.concatenate(whole) if pause_ms else None))
    return scored

