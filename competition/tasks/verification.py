"""Speaker verification on voices never trained on: cosine scores of clip pairs, the equal error
rate, and the detection-error trade-off (DET) curve that a report draws.

Every pair of the sampled clips is scored: a same-speaker pair should score high, a
different-speaker pair low. A threshold accepts pairs at or above it; the false-accept rate is the
share of different-speaker pairs accepted, the false-reject rate the share of same-speaker pairs
refused, and the EER is where the two are equal.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.io import atomic_path, atomic_write_json

# At full scale the unseen speakers have ~20,000 clips: 200 million pairs. This many clips, taken
# as whole speakers so that no same-speaker pair is thinned out, give ~8 million pairs.
MAX_CLIPS = 4000
CURVE_POINTS = 400  # rows of the saved curve: smooth to the eye, small on disk
_DEVIATE_FLOOR = 1e-4  # rates of 0 and 1 are infinite normal deviates: the DET's axes stop short of them


def sampled_rows(rows: np.ndarray, speakers: np.ndarray, seed: int, max_clips: int = MAX_CLIPS) -> np.ndarray:
    """The rows of whole speakers, drawn in a seeded order until `max_clips` (at least one speaker):
    a uniform draw of clips would keep only (max_clips / len(rows))**2 of the same-speaker pairs."""
    if len(rows) <= max_clips:
        return rows
    codes, names = pd.factorize(np.asarray(speakers)[rows], sort=True)
    counts = np.bincount(codes, minlength=len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    kept = order[:max(1, int(np.searchsorted(np.cumsum(counts[order]), max_clips, side="right")))]
    return rows[np.isin(codes, kept)]


def pair_scores(embeddings: np.ndarray, speakers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity and same-speaker flag of every unordered pair of distinct clips."""
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    first, second = np.triu_indices(len(unit), k=1)
    similarity = unit.astype(np.float32) @ unit.astype(np.float32).T
    codes = pd.factorize(np.asarray(speakers))[0]  # integers: comparing strings pair by pair costs far more
    return similarity[first, second], codes[first] == codes[second]


def error_rates(scores: np.ndarray, same: np.ndarray) -> pd.DataFrame:
    """False-accept and false-reject rates at every distinct score used as the threshold, from
    the strictest (nothing accepted) to the loosest."""
    same = np.asarray(same, bool)
    if same.all() or not same.any():
        raise PipelineError("verification needs both same-speaker and different-speaker pairs; "
                            f"got {int(same.sum())} same and {int((~same).sum())} different")
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    ordered, accepted_same = scores[order], same[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    true_accepts, false_accepts = np.cumsum(accepted_same)[last_of_each], np.cumsum(~accepted_same)[last_of_each]
    return pd.DataFrame({
        "threshold": np.r_[np.inf, ordered[last_of_each]],
        "false_accept": np.r_[0.0, false_accepts / (~same).sum()],
        "false_reject": np.r_[1.0, 1.0 - true_accepts / same.sum()],
    })


def equal_error_rate(curve: pd.DataFrame) -> float:
    """Where false accepts meet false rejects, interpolated on the segment that crosses."""
    far, frr = curve["false_accept"].to_numpy(), curve["false_reject"].to_numpy()
    crossing = int(np.argmax(far >= frr))  # far rises from 0 and frr falls to 0, so they cross
    if crossing == 0:
        return float(far[0])
    before, after = frr[crossing - 1] - far[crossing - 1], far[crossing] - frr[crossing]
    share = before / (before + after)
    return float(far[crossing - 1] + share * (far[crossing] - far[crossing - 1]))


def normal_deviates(rates: np.ndarray) -> np.ndarray:
    """The DET's axes: a rate as the normal deviate it is the tail of, clipped short of 0 and 1."""
    from scipy.stats import norm

    return norm.ppf(np.clip(rates, _DEVIATE_FLOOR, 1 - _DEVIATE_FLOOR))


def thinned(curve: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most `points` rows, evenly spaced along the curve as the DET draws it (normal-deviate
    axes, where the low error rates take as much room as the high ones), its ends kept."""
    if len(curve) <= points:
        return curve.reset_index(drop=True)
    x, y = normal_deviates(curve["false_accept"].to_numpy()), normal_deviates(curve["false_reject"].to_numpy())
    travelled = np.r_[0.0, np.cumsum(np.hypot(np.diff(x), np.diff(y)))]
    keep = np.unique(np.searchsorted(travelled, np.linspace(0, travelled[-1], points)).clip(0, len(curve) - 1))
    return curve.iloc[np.unique(np.r_[0, keep, len(curve) - 1])].reset_index(drop=True)


@dataclasses.dataclass(frozen=True)
class Verification:
    """What train measured on the speakers it never saw: written beside the model, drawn by the report."""

    eer: float
    speakers: int
    clips: int
    same_pairs: int
    different_pairs: int
    curve: pd.DataFrame  # threshold, false_accept, false_reject (thinned)

    @classmethod
    def measure(cls, embeddings: np.ndarray, speakers: np.ndarray) -> Verification:
        """Score every pair of the clips (`speakers`: whose each one is)."""
        scores, same = pair_scores(embeddings, np.asarray(speakers))
        curve = error_rates(scores, same)
        return cls(eer=equal_error_rate(curve), speakers=len(set(speakers)), clips=len(speakers),
                   same_pairs=int(same.sum()), different_pairs=int((~same).sum()), curve=thinned(curve))

    def summary(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "curve"}

    def save(self, path: Path) -> None:
        """`path` (JSON: the numbers) and `path` with .csv (the curve)."""
        with atomic_path(path.with_suffix(".csv")) as temp:
            self.curve.to_csv(temp, index=False)
        atomic_write_json(path, self.summary())

    @classmethod
    def load(cls, path: Path) -> Verification:
        try:
            summary = json.loads(path.read_text())
            curve = pd.read_csv(path.with_suffix(".csv"))
            return cls(**summary, curve=curve[["threshold", "false_accept", "false_reject"]])
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise PipelineError(f"{path} (and its .csv): expected the verification train wrote; "
                                f"cannot read it ({error}): rerun --stage train") from error
