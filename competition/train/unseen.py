"""Speaker verification on the speakers never trained on, with the trained members' embeddings."""
from __future__ import annotations

import logging

import numpy as np

from ..core.config import TrainConfig
from ..core.paths import Paths
from ..inference.engines import KerasMember
from ..tasks.verification import Verification, sampled_rows
from .data import read_feature_table

log = logging.getLogger(__name__)


def verify_unseen_speakers(paths: Paths, config: TrainConfig, members: list[KerasMember]) -> Verification | None:
    """Embed (a seeded sample of) the clips of the speakers never trained on with every member,
    score every pair, and save the equal error rate and its curve; None when they give no pairs
    of both kinds."""
    for stale in (paths.verification, paths.verification_curve):
        stale.unlink(missing_ok=True)
    features = np.load(paths.feature_cache("unseen"), mmap_mode="r")
    table = read_feature_table(paths, "unseen")
    rows = sampled_rows(np.flatnonzero(table["readable"].to_numpy(bool)), table["speaker"].to_numpy(str), config.seed)
    clips_per_speaker = table["speaker"].iloc[rows].value_counts()
    if len(clips_per_speaker) < 2 or not (clips_per_speaker > 1).any():
        # none at all is a data set whose every speaker has enough clips (the demo's): nothing to warn of
        (log.warning if len(rows) else log.info)(
            "verification skipped: the speakers never trained on (those with fewer than --min-clips-per-speaker "
            "clips) give %d clips of %d speakers, too few for both same-speaker and different-speaker pairs",
            len(rows), len(clips_per_speaker))
        return None
    clips = np.asarray(features[rows], dtype=np.float32)
    # each member's embedding scaled to unit length, so the cosine of the joined vectors is their mean cosine
    parts = [member.embed(clips) for member in members]
    embeddings = np.concatenate([p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in parts],
                                axis=1)
    verification = Verification.measure(embeddings, table["speaker"].to_numpy(str)[rows])
    verification.save(paths.verification)
    log.info("verification on %d speakers never trained on (%d clips, %d same-speaker and %d different-speaker "
             "pairs): equal error rate %.4f", verification.speakers, verification.clips, verification.same_pairs,
             verification.different_pairs, verification.eer)
    return verification
