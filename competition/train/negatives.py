"""Negatives made from the training clips themselves, labelled unknown: words played backwards
(--reversed-unknowns) and commands cut to their first part (--cut-unknowns). They teach the unknown
class what a keyword spotter must reject: speech made of a command's sounds in another order, and a
command not yet heard to its end."""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from ..core.config import CUT_KEEPS
from ..core.labels import COMMANDS, REVERSE_INTO_COMMANDS, SILENCE_LABEL, UNKNOWN_LABEL
from .augmentation import take_rows, uniform


@dataclasses.dataclass(frozen=True)
class Relabelling:
    """A share of the clips of some classes changed into something that is none of them, labelled unknown."""

    eligible: tuple[bool, ...]  # per class: may its clips be changed?
    unknown: int                # the class a changed clip gets
    share: float

    @staticmethod
    def is_eligible(class_name: str) -> bool:
        raise NotImplementedError

    @classmethod
    def plan(cls, class_names: list[str], share: float) -> Relabelling | None:
        """None when off (share 0) or when the classes have no unknown (another task)."""
        if share <= 0 or UNKNOWN_LABEL not in class_names:
            return None
        return cls(tuple(map(cls.is_eligible, class_names)), class_names.index(UNKNOWN_LABEL), share)

    @property
    def n_classes(self) -> int:
        return len(self.eligible)

    def expected_counts(self, counts: np.ndarray) -> np.ndarray:
        """Each class's clips in an epoch, on average, once the share of the eligible ones became unknown."""
        moved = counts * np.asarray(self.eligible) * self.share
        expected = counts - moved
        expected[self.unknown] += moved.sum()
        return expected


@dataclasses.dataclass(frozen=True)
class Reversal(Relabelling):
    """--reversed-unknowns: a share of the word clips played backwards and labelled unknown. A word
    played backwards is speech made of a command's sounds in another order: what the words never
    heard in training are, and what the few auxiliary words teach the unknown class too little of.
    Reversing the frames of a spectrogram is (to within a frame's alignment) the spectrogram of the
    reversed recording, so the cache serves as it is."""

    @staticmethod
    def is_eligible(class_name: str) -> bool:
        return class_name not in (SILENCE_LABEL, *REVERSE_INTO_COMMANDS)

    def __call__(self, x: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = tf.shape(x)[0]
        flip = (uniform([batch], 0.0, 1.0, seed) < self.share) & tf.gather(tf.constant(self.eligible), labels)
        reversed_x = tf.where(tf.reshape(flip, [batch] + [1] * (x.shape.rank - 1)), tf.reverse(x, axis=[1]), x)
        return reversed_x, tf.where(flip, tf.constant(self.unknown, labels.dtype), labels)


# A row belongs to the word when its power is within this many natural-log units (15 dB) of the
# loudest row's and joins it without a quieter row between: a word's syllables, not a click
# elsewhere in the clip. A clip with no row that far below its loudest has no word to find.
WORD_BELOW_PEAK = 15.0 / 10.0 * float(np.log(10.0))
# Rows before a word's onset that may still hold its rise (10 ms each): never repeated as the sound before it.
WORD_RISE_ROWS = 5


def find_words(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(onset, end, found) per log-power spectrogram: the rows [onset, end) around the loudest row
    that stay within WORD_BELOW_PEAK of it; found is False where no row falls that far below."""
    power = tf.reduce_logsumexp(x, axis=2)
    frames = tf.shape(x)[1]
    peak = tf.argmax(power, axis=1, output_type=tf.int32)[:, None]
    quiet = power < tf.reduce_max(power, axis=1, keepdims=True) - WORD_BELOW_PEAK
    rows = tf.range(frames)[None, :]
    onset = tf.reduce_max(tf.where(quiet & (rows < peak), rows, -1), axis=1) + 1
    end = tf.reduce_min(tf.where(quiet & (rows > peak), rows, frames), axis=1)
    return onset, end, tf.reduce_any(quiet, axis=1)


@dataclasses.dataclass(frozen=True)
class Cut(Relabelling):
    """--cut-unknowns: a share of the command clips moved late in the window, so that only the word's
    start shows at the window's end, and labelled unknown. A stream's windows slide over each word,
    and the first to hold part of it must not name it yet: trained only on whole, centred words, the
    model hears a command's first half as another command. Cut after the augmentation, whose shifts
    would otherwise pull the fragment off the edge or leave a gap after it (a short, finished word);
    the rows it frees repeat the clip's own sound before the word, as a stream's window holds
    whatever came before (a flat fill would let the model tell cut clips by their look)."""

    @staticmethod
    def is_eligible(class_name: str) -> bool:
        return class_name in COMMANDS

    def __call__(self, x: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
        batch, frames = tf.shape(x)[0], tf.shape(x)[1]
        onset, end, found = find_words(x)
        keep = tf.cast(tf.math.ceil(tf.cast(end - onset, tf.float32) * uniform([batch], *CUT_KEEPS, seeds[0])),
                       tf.int32)
        shift = (frames - keep - onset)[:, None]  # the word's first `keep` rows become the window's last
        cut = ((uniform([batch], 0.0, 1.0, seeds[1]) < self.share) & found & (shift[:, 0] > 0)
               & tf.gather(tf.constant(self.eligible), labels))
        source = tf.range(frames)[None, :] - shift
        # the rows repeated end a little before the onset, where the word's rise is still below the line;
        # a word too near the clip's first row has no sound before it to repeat: the quietest value fills in
        before_word = (onset - WORD_RISE_ROWS)[:, None]
        source = tf.where((source < 0) & (before_word > 0), tf.math.floormod(source, tf.maximum(before_word, 1)),
                          source)
        moved = take_rows(x, source, tf.reduce_min(x, axis=[1, 2], keepdims=True))
        return (tf.where(cut[:, None, None], moved, x),
                tf.where(cut, tf.constant(self.unknown, labels.dtype), labels))
