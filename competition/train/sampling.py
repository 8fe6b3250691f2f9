"""Which training rows an epoch draws, and in what order: a pure function of its random generator.

By default every usable row once (`--class-sampling weights`: the loss weighs the rare classes up).
`--class-sampling balanced` draws every class equally often instead, so a rare class's clips come
back several times an epoch, each time under another augmentation, and every clip counts the same.
Under --pseudo-label-epoch a share of the epoch is pseudo-labelled rows (see train.pseudo).
"""
from __future__ import annotations

import numpy as np

from ..core.config import BALANCED, CLASS_WEIGHTS
from .pseudo import PSEUDO_SHARE


def balanced_rows(rows: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` of `rows` (whose labels are `labels`), each class present as often as the others (the
    remainder of count / classes goes to classes drawn at random). Within a class the rows are drawn
    without replacement until all are used, then again: no clip comes twice before every other has
    come once. Returned grouped by class; the caller shuffles."""
    classes = np.unique(labels)
    if len(classes) == 0:
        return rows[:0]
    shares = np.full(len(classes), count // len(classes))
    shares[rng.choice(len(classes), count % len(classes), replace=False)] += 1
    drawn = [rows[:0]]
    for cls, share in zip(classes, shares):
        if share == 0:  # an epoch shorter than the number of classes
            continue
        members = rows[labels == cls]
        rounds = -(-share // len(members))
        drawn.append(np.concatenate([members[rng.permutation(len(members))] for _ in range(rounds)])[:share])
    return np.concatenate(drawn)


def epoch_order(y: np.ndarray, labelled: int | None, rng: np.random.Generator,
                sampling: str = CLASS_WEIGHTS) -> np.ndarray:
    """An epoch's rows in the order they are drawn, as many as the usable labelled rows. Rows with a
    negative label are never drawn. `labelled`: the number of leading rows with real labels, the rest
    being pseudo-labelled; None (no pseudo-labels): every usable row once, shuffled, or under
    `sampling` BALANCED the labelled part drawn class by class (pseudo-labelled rows are drawn as
    they come: their share stands for the test's own mix)."""
    usable = np.flatnonzero(y >= 0)
    if labelled is None:
        real, pseudo = usable, usable[:0]
    else:
        real, pseudo = usable[usable < labelled], usable[usable >= labelled]
    n_pseudo = min(len(pseudo), int(round(PSEUDO_SHARE * len(real))))
    if sampling == BALANCED:
        chosen_real = balanced_rows(real, y[real], len(real) - n_pseudo, rng)
    elif labelled is None:
        return real[rng.permutation(len(real))]  # the order runs before --class-sampling always had
    else:
        chosen_real = rng.choice(real, len(real) - n_pseudo, replace=False)
    chosen = np.concatenate([chosen_real, rng.choice(pseudo, n_pseudo, replace=False)])
    return chosen[rng.permutation(len(chosen))]
