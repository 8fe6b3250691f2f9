"""Operating points of the listener: false accepts per hour against commands missed.

A keyword spotter is judged on two kinds of recording at once: long stretches in which no command
is spoken (people saying other words, talking, noise), where every detection is a false accept,
counted per hour; and streams of labelled commands, where a command is missed unless a detection
finds it and names it right. The threshold trades one against the other, and the pairs (false
accepts per hour, share missed) over a list of thresholds are the DET curve.

The model runs once per stream: its window scores (`ScoredStream`) are kept, and the recogniser
is replayed over them at each threshold (`operating_points`), giving exactly what `--listen`
would report at that threshold. `lowest_threshold` picks the lowest threshold whose false accepts
per hour on the negative streams are at most a target, so that a threshold can be chosen on the
validation speakers' negative streams for a stated false-accept rate.

The matching rule (`match`): a detection matches a command (one of the ten) whose onset is at most
1.75 s before it and not after it; each command and each detection is matched at most once; among
the matchings allowed, the one with the most pairs is taken, and among those the one with the most
correct names (an assignment problem, solved exactly). Only numpy, pandas and scipy: no TensorFlow.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..core.config import ListenConfig
from ..core.labels import COMMANDS
from ..device.operating_point import COLUMNS, choose
from ..device.recognizer import Detection, Recognizer

TOLERANCE_S = 1.75
EPSILON_S = 1e-6  # times are written to the millisecond: "exactly 1.75 s" must still match
SECONDS_PER_HOUR = 3600.0
PAIR_COLUMNS = ["onset_s", "label", "time_s", "found", "delay_s", "confidence"]
DETECTION_COLUMNS = ["time_s", "label", "confidence"]


# a softmax's top score saturates: the few false accepts an hour that matter lie at 1 - 1e-3 and beyond
THRESHOLDS = tuple(round(t, 6) for t in (*np.arange(0.30, 0.981, 0.02), 0.99, 0.995, 0.998, 0.999, 0.9995,
                                             0.9997, 0.9998, 0.99985, 0.9999, 0.99993, 0.99995, 0.99998, 0.99999))


# --- matching detections to commands ------------------------------------------------------------

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


def per_hour(count: float, seconds: float) -> float:
    """`count` events in `seconds` of audio, as a rate per hour."""
    if seconds <= 0:
        raise ValueError(f"a rate per hour over {seconds} s of audio; expected a positive length")
    return count * SECONDS_PER_HOUR / seconds


def counts(labels: pd.DataFrame, detections: pd.DataFrame) -> dict[str, int]:
    """Commands, detections, and of the commands those found and correctly named, found with another
    name, and not found; the detections matching no command are false (all of them, where no command
    was said)."""
    pairs = matched(labels, detections)
    n_commands = int(labels["label"].isin(COMMANDS).sum())
    correct = int((pairs["label"] == pairs["found"]).sum())
    return {"commands": n_commands, "detections": len(detections), "correct": correct,
            "wrong": len(pairs) - correct, "not_found": n_commands - len(pairs),
            "false": len(detections) - len(pairs)}


def shares(tally: dict[str, int], seconds: float) -> dict:
    """Counts as `score` reports them: shares of the commands, false detections per minute and per hour."""
    n = max(tally["commands"], 1)
    return {"commands": tally["commands"], "detections": tally["detections"], "correct": tally["correct"] / n,
            "wrong": tally["wrong"] / n, "missed": tally["not_found"] / n,
            "false_per_min": tally["false"] / (seconds / 60), "false_per_hour": per_hour(tally["false"], seconds)}


def score(labels: pd.DataFrame, detections: pd.DataFrame, seconds: float) -> dict:
    """One stream's detections against its labels (`seconds`: its length)."""
    return shares(counts(labels, detections), seconds)


# --- replaying the recogniser over kept window scores -------------------------------------------

@dataclasses.dataclass(frozen=True)
class ScoredStream:
    """A stream's window scores as the model gave them, with what was said in it."""

    name: str
    times: np.ndarray      # each window's end, in seconds
    scores: np.ndarray     # (windows, classes) in the model's class order
    labels: pd.DataFrame   # time_s,label of every onset; no command in a negative stream
    seconds: float         # the stream's length
    whole: np.ndarray | None = None  # each window's whole-word mark (device.recognizer.whole_words), if any

    @property
    def negative(self) -> bool:
        return not self.labels["label"].isin(COMMANDS).any()


def replay(recognizer: Recognizer, times: Sequence[float], scores: np.ndarray,
           whole: Sequence[bool] | None = None) -> pd.DataFrame:
    """The detections `--listen` reports for these window scores (and whole-word marks): the recogniser
    run to the stream's end."""
    found: list[Detection] = list(recognizer.run(times, scores, whole))
    if (last := recognizer.finish()) is not None:
        found.append(last)
    return pd.DataFrame([(d.time_s, d.label, d.confidence) for d in found], columns=DETECTION_COLUMNS)


def operating_points(streams: Sequence[ScoredStream], labels: Sequence[str], commands: Sequence[str],
                     config: ListenConfig, thresholds: Sequence[float]) -> pd.DataFrame:
    """One row per threshold (the rest of the recogniser as in `config`), counts pooled over the streams:

    - `false_accepts_per_hour`: detections in the negative streams per hour of them;
    - `correct`, `wrong`, `not_found`: shares of the command streams' commands; `missed` = 1 - `correct`
      (not found, or found under another name: the DET curve's y);
    - `false_per_hour_commands`: detections matching no command in the command streams, per hour of them;
    - `false_accepts_per_hour.NAME`: each negative stream's own rate.
    """
    negative = [s for s in streams if s.negative]
    positive = [s for s in streams if not s.negative]
    negative_s, positive_s = sum(s.seconds for s in negative), sum(s.seconds for s in positive)
    rows = []
    for threshold in thresholds:
        setting = dataclasses.replace(config, listen_threshold=float(threshold))
        tally = dict.fromkeys(("commands", "correct", "wrong", "not_found", "false"), 0)
        accepts, by_stream = 0, {}
        for stream in streams:
            found = replay(Recognizer.configured(labels, commands, setting), stream.times, stream.scores,
                           stream.whole)
            if stream.negative:
                accepts += len(found)
                by_stream[f"false_accepts_per_hour.{stream.name}"] = per_hour(len(found), stream.seconds)
            else:
                for key, value in counts(stream.labels, found).items():
                    if key in tally:
                        tally[key] += value
        n = max(tally["commands"], 1)
        rows.append({
            "threshold": float(threshold),
            "false_accepts_per_hour": per_hour(accepts, negative_s) if negative else np.nan,
            "missed": 1 - tally["correct"] / n if positive else np.nan,
            "correct": tally["correct"] / n, "wrong": tally["wrong"] / n, "not_found": tally["not_found"] / n,
            "false_per_hour_commands": per_hour(tally["false"], positive_s) if positive else np.nan,
            "false_accepts": accepts, "negative_hours": negative_s / SECONDS_PER_HOUR,
            "commands": tally["commands"], **by_stream,
        })
    return pd.DataFrame(rows)


def lowest_threshold(points: pd.DataFrame, most_per_hour: float) -> float | None:
    """The lowest threshold of `points` (from `operating_points`) whose false accepts per hour are at
    most `most_per_hour` (the rule of `choose`, which --listen applies); None when none of them is."""
    chosen = choose(points[[*COLUMNS, "negative_hours"]].to_dict("records"), most_per_hour)
    return chosen.threshold if chosen.met else None
