"""The listener's operating point: the threshold that keeps false accepts to what a user can live with.

`--stage operating` measures, for a list of thresholds, how many false accepts an hour the listener
makes on the validation speakers' negative streams (nothing said is a command) and what share of the
commands of their command streams it misses; the table goes beside the model (and into the export).
`choose` reads it for a target of false accepts an hour: the lowest threshold that kept to the target
(a lower threshold misses fewer commands), or, where none did, the lowest with the fewest. Only the
standard library: a device reads the table without pandas.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
from pathlib import Path

from .. import PipelineError
from ..core.config import ListenConfig

log = logging.getLogger(__name__)

# the threshold of a listener whose model has no measured operating points
UNMEASURED_THRESHOLD = 0.7
COLUMNS = ("threshold", "false_accepts_per_hour", "missed")
# the rest of the recogniser, as it was when the points were measured: one value in every row
RECOGNISER = ("listen_hop_ms", "listen_average_ms", "listen_suppression_ms", "listen_peak_ms", "listen_pause_ms")
# what a table measured before a setting existed was measured with
MEASURED_BEFORE = {"listen_pause_ms": "0"}


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    false_accepts_per_hour: float  # on the validation negative streams
    missed: float                  # share of the validation commands not found or wrongly named
    target: float                  # the false accepts an hour asked for
    negative_hours: float          # how much talk the rate was measured on

    @property
    def met(self) -> bool:
        return self.false_accepts_per_hour <= self.target

    def describe(self) -> str:
        measured = (f"{self.false_accepts_per_hour:.1f} false accepts an hour on {self.negative_hours:.2f} h of the "
                    f"validation speakers' negative streams, {self.missed:.1%} of their commands missed")
        if self.met:
            return f"threshold {self.threshold:g}, the lowest that kept to {self.target:g} an hour ({measured})"
        return (f"threshold {self.threshold:g}: no threshold kept to {self.target:g} false accepts an hour; this one "
                f"made the fewest ({measured})")


def read_points(path: Path) -> list[dict[str, float]]:
    """The rows of an operating-points table, each with at least COLUMNS, negative_hours and the
    recogniser's settings (RECOGNISER), as floats."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise PipelineError(f"{path}: cannot read the operating points ({error.strerror})") from error
    wanted = (*COLUMNS, "negative_hours", *RECOGNISER)
    rows = [{**MEASURED_BEFORE, **row} for row in rows]
    if not rows or any(column not in rows[0] for column in wanted):
        raise PipelineError(f"{path}: expected a table of operating points with columns {', '.join(wanted)} and "
                            f"at least one row; found {len(rows)} rows" + (f" of {', '.join(rows[0])}" if rows else ""))
    try:
        return [{column: float(row[column]) for column in wanted} for row in rows]
    except ValueError as error:
        raise PipelineError(f"{path}: a value that is not a number ({error})") from error


def choose(points: list[dict[str, float]], most_per_hour: float) -> OperatingPoint:
    """The lowest threshold whose false accepts an hour are at most `most_per_hour`; where none is,
    the lowest threshold of those with the fewest."""
    meeting = [row for row in points if row["false_accepts_per_hour"] <= most_per_hour]
    if meeting:
        row = min(meeting, key=lambda row: row["threshold"])
    else:
        row = min(points, key=lambda row: (row["false_accepts_per_hour"], row["threshold"]))
    return OperatingPoint(row["threshold"], row["false_accepts_per_hour"], row["missed"], most_per_hour,
                          row["negative_hours"])


def resolve(config: ListenConfig, points: Path) -> tuple[ListenConfig, str]:
    """`config` with its threshold set, and a sentence that says which operating point it is: the one
    --listen-threshold gave; else the one `choose` finds in the table `points` for the config's
    false accepts an hour; else, with no table, UNMEASURED_THRESHOLD."""
    if config.listen_threshold is not None:
        return config, f"threshold {config.listen_threshold:g} (--listen-threshold)"
    if not Path(points).is_file():
        return (dataclasses.replace(config, listen_threshold=UNMEASURED_THRESHOLD),
                f"threshold {UNMEASURED_THRESHOLD:g}: this model's false accepts were never measured ({points} is "
                f"missing; --stage operating measures them)")
    rows = read_points(points)
    point = choose(rows, config.false_accepts_per_hour)
    measured = {name: int(rows[0][name]) for name in RECOGNISER}
    if differ := [f"--{name.replace('_', '-')} {measured[name]} there, {getattr(config, name)} here"
                  for name in RECOGNISER if measured[name] != getattr(config, name)]:
        log.warning("the operating points in %s were measured with another recogniser (%s): rerun --stage operating "
                    "with these settings for false accepts that hold", points, "; ".join(differ))
    return dataclasses.replace(config, listen_threshold=point.threshold), point.describe()
