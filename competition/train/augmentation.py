"""On-the-fly augmentation of batches of log-power spectrograms (batch, frames, freqs).

Everything happens on the cached linear log-power spectrograms, so no audio is decoded
during training. All randomness is stateless, drawn from a seed per batch, so an epoch's
augmentation depends only on (seed, epoch, batch) and a resumed run repeats it exactly.
Noise mixing adds powers, which is exact in expectation for a noise
independent of the speech: log(exp(speech) + gain**2 * exp(noise)).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from ..core.config import CUT_KEEPS, WARP_BOUNDARY, AugmentConfig
from ..core.labels import COMMANDS, REVERSE_INTO_COMMANDS, SILENCE_LABEL, UNKNOWN_LABEL
from ..frontend.layers import MEL_LOW_HZ
from ..frontend.mfcc16k import hz_to_mel


def _uniform(shape, low, high, seed, dtype=tf.float32):
    return tf.random.stateless_uniform(shape, seed, low, high, dtype=dtype)


def _take_rows(x: tf.Tensor, source: tf.Tensor, fill: tf.Tensor | float) -> tf.Tensor:
    """Row t of each example becomes its row source[:, t]; rows whose source lies outside get `fill`."""
    batch, frames = tf.shape(x)[0], tf.shape(x)[1]
    inside = (source >= 0) & (source < frames)
    taken = tf.gather(x, tf.clip_by_value(source, 0, frames - 1), batch_dims=1)
    return tf.where(tf.reshape(inside, [batch, frames] + [1] * (x.shape.rank - 2)), taken, fill)


def shift_in_time(x: tf.Tensor, max_shift: int, seed: tf.Tensor, fill: tf.Tensor | float) -> tf.Tensor:
    """Move each example along axis 1 by up to max_shift rows; uncovered rows get `fill`."""
    shift = _uniform([tf.shape(x)[0], 1], -max_shift, max_shift + 1, seed, tf.int32)
    return _take_rows(x, tf.range(tf.shape(x)[1])[None, :] - shift, fill)


def stretch_in_time(x: tf.Tensor, max_stretch: float, seed: tf.Tensor, fill: tf.Tensor | float) -> tf.Tensor:
    """Speed each example up or slow it down about its middle frame, by a rate drawn from
    1 +- max_stretch, keeping the pitch: frames are dropped or repeated (nearest frame)."""
    rate = _uniform([tf.shape(x)[0], 1], 1.0 - max_stretch, 1.0 + max_stretch, seed)
    frames = tf.cast(tf.range(tf.shape(x)[1]), tf.float32)[None, :]
    middle = tf.cast(tf.shape(x)[1] - 1, tf.float32) / 2.0
    return _take_rows(x, tf.cast(tf.round(middle + (frames - middle) * rate), tf.int32), fill)


def warp_frequencies(x: tf.Tensor, max_warp: float, seed: tf.Tensor) -> tf.Tensor:
    """Vocal tract length perturbation: scale each example's frequency axis (axis 2, linear bins
    from 0 to the Nyquist frequency) by a factor drawn from 1 +- max_warp, as a shorter or longer
    vocal tract would. Above WARP_BOUNDARY of the band the map bends so the Nyquist stays put
    (Jaitly and Hinton's piecewise-linear warp); bins are read by linear interpolation."""
    top = tf.cast(tf.shape(x)[2] - 1, tf.float32)
    factor = _uniform([tf.shape(x)[0], 1], 1.0 - max_warp, 1.0 + max_warp, seed)
    bend_out = WARP_BOUNDARY * top * tf.minimum(factor, 1.0)   # where the bend lands, in output bins
    bins = tf.range(top + 1.0)[None, :]
    source = tf.where(bins <= bend_out, bins / factor,
                      top - (top - bend_out / factor) * (top - bins) / (top - bend_out))
    below = tf.clip_by_value(tf.floor(source), 0.0, top - 1.0)
    share = (source - below)[:, None, :]
    below = tf.cast(below, tf.int32)
    low = tf.gather(x, below, axis=2, batch_dims=1)
    high = tf.gather(x, below + 1, axis=2, batch_dims=1)
    return low + share * (high - low)


def _noise_draw(batch, bank_size, probability: float, max_gain: float, seed: tf.Tensor,
                snr_db: tuple[float, float] | None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Which noise window each example gets, its level (a gain up to max_gain, or with `snr_db` a
    ratio in dB from that range, drawn from the same stream) and whether it gets any noise at all."""
    low, high = snr_db if snr_db is not None else (0.0, max_gain)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    pick = _uniform([batch], 0, bank_size, seeds[0], tf.int32)
    level = _uniform([batch], low, high, seeds[1])
    noisy = _uniform([batch], 0.0, 1.0, seeds[2]) < probability
    return pick, level, noisy


def _log_mean_power(x: tf.Tensor) -> tf.Tensor:
    """The log of each log-power spectrogram's mean power, shaped to broadcast over it."""
    cells = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), tf.float32)
    return tf.reduce_logsumexp(x, axis=[1, 2], keepdims=True) - tf.math.log(cells)


def mix_noise(x: tf.Tensor, noise_bank: tf.Tensor, probability: float, max_gain: float, seed: tf.Tensor,
              snr_db: tuple[float, float] | None = None) -> tf.Tensor:
    """Add a noise window's power to each selected example: at the noise file's own level times
    a gain up to max_gain, or, with `snr_db`, at a signal-to-noise ratio drawn from that range,
    the example's mean power over the window's (so the mix does not depend on how loud the
    noise files happen to be stored)."""
    pick, level, noisy = _noise_draw(tf.shape(x)[0], tf.shape(noise_bank)[0], probability, max_gain, seed, snr_db)
    noise = tf.gather(noise_bank, pick)
    if snr_db is None:
        gain = level * tf.cast(noisy, tf.float32)
        return tf.experimental.numpy.logaddexp(x, noise + 2.0 * tf.math.log(gain + 1e-12)[:, None, None])
    # power is a tenth of a decade per dB
    shift = _log_mean_power(x) - _log_mean_power(noise) - (level * tf.math.log(10.0) / 10.0)[:, None, None]
    return tf.where(noisy[:, None, None], tf.experimental.numpy.logaddexp(x, noise + shift), x)


def change_volume(x: tf.Tensor, db: float, seed: tf.Tensor) -> tf.Tensor:
    # Power is amplitude squared: +-db on the amplitude is +-db/10 decades of power.
    change = _uniform([tf.shape(x)[0], 1, 1], -db, db, seed) / 10.0 * tf.math.log(10.0)
    return x + change


def _blank(x: tf.Tensor, blank: tf.Tensor) -> tf.Tensor:
    """Fill the marked cells with the example's mean, so a mask adds no level of its own."""
    return tf.where(blank, tf.reduce_mean(x, axis=[1, 2], keepdims=True), x)


def mask(x: tf.Tensor, axis: int, max_width: int, seed: tf.Tensor) -> tf.Tensor:
    """SpecAugment: blank a random band (of time frames or frequencies) with the example's mean."""
    batch, size = tf.shape(x)[0], tf.shape(x)[axis]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    width = _uniform([batch, 1], 0, max_width + 1, seeds[0], tf.int32)
    start = _uniform([batch, 1], 0, tf.maximum(size - max_width, 1), seeds[1], tf.int32)
    positions = tf.range(size)[None, :]
    blank = (positions >= start) & (positions < start + width)
    return _blank(x, blank[:, :, None] if axis == 1 else blank[:, None, :])


def mel_positions(n_freqs: int, sample_rate: int) -> np.ndarray:
    """Each linear frequency bin's place on the mel scale the mel models use, from MEL_LOW_HZ (0)
    to the Nyquist frequency (1); bins below MEL_LOW_HZ sit at 0."""
    low, high = hz_to_mel(MEL_LOW_HZ), hz_to_mel(sample_rate / 2)
    place = (hz_to_mel(np.linspace(0.0, sample_rate / 2, n_freqs)) - low) / (high - low)
    return np.clip(place, 0.0, 1.0).astype(np.float32)


def mel_mask(x: tf.Tensor, positions: tf.Tensor, max_share: float, seed: tf.Tensor) -> tf.Tensor:
    """SpecAugment on the mel scale: blank the bins inside a band of up to `max_share` of the mel
    scale, placed uniformly on it. Masks of linear bins placed uniformly in hertz land above 2 kHz
    about three times in four, where one mel band spans several bins, and rarely touch the formants."""
    batch = tf.shape(x)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    width = _uniform([batch, 1], 0.0, max_share, seeds[0])
    start = _uniform([batch, 1], 0.0, 1.0 - max_share, seeds[1])
    blank = (positions[None, :] >= start) & (positions[None, :] < start + width)
    return _blank(x, blank[:, None, :])


def augment_batch(x: tf.Tensor, noise_bank: tf.Tensor | None, config: AugmentConfig, seed: tf.Tensor,
                  samples_per_frame: int = 80, masks: int = 1, mel_places: tf.Tensor | None = None,
                  snr_db: tuple[float, float] | None = None, max_warp: float = 0.0) -> tf.Tensor:
    """`seed`: two integers; the same seed gives the same augmentation. A batch of waveforms
    (batch, samples) gets the same shift, noise and volume changes in the signal domain, and no masks.

    `masks`: time masks and frequency masks each spectrogram gets. `mel_places` (mel_positions of
    the bins): draw the frequency masks on the mel scale instead of in linear bins. `snr_db`: mix
    the noise at a signal-to-noise ratio drawn from this range (see mix_noise). `max_warp`: scale
    each spectrogram's frequencies by up to this share, before the noise (see warp_frequencies)."""
    if x.shape.rank == 2:
        return augment_waves(x, noise_bank, config, seed, samples_per_frame, snr_db)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    floor = tf.reduce_min(x, axis=[1, 2], keepdims=True)
    if config.max_stretch > 0:
        # its own stream, folded from the batch seed, so the other draws are those of a run without it
        x = stretch_in_time(x, config.max_stretch, tf.random.experimental.stateless_fold_in(seeds[0], 1), floor)
    x = shift_in_time(x, config.max_shift_frames, seeds[0], floor)
    if max_warp > 0:
        # the speaker's voice, not the room's: warped before the noise is mixed in; its own stream
        x = warp_frequencies(x, max_warp, tf.random.experimental.stateless_fold_in(seeds[0], 2))
    if noise_bank is not None:
        x = mix_noise(x, noise_bank, config.noise_probability, config.max_noise_gain, seeds[1], snr_db)
    x = change_volume(x, config.volume_db, seeds[2])
    for number in range(masks):
        # the first masks take the streams a single mask always took; later ones fold their own
        time_seed, freq_seed = ((seeds[3], seeds[4]) if number == 0 else
                                (tf.random.experimental.stateless_fold_in(s, number) for s in (seeds[3], seeds[4])))
        x = mask(x, 1, config.max_time_mask, time_seed)
        x = (mask(x, 2, config.max_freq_mask, freq_seed) if mel_places is None
             else mel_mask(x, mel_places, config.max_mel_mask, freq_seed))
    return x


def augment_waves(x: tf.Tensor, noise_bank: tf.Tensor | None, config: AugmentConfig, seed: tf.Tensor,
                  samples_per_frame: int, snr_db: tuple[float, float] | None = None) -> tf.Tensor:
    """The waveform counterpart of augment_batch: shift (zeros fill), added noise, volume."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    x = shift_in_time(x, config.max_shift_frames * samples_per_frame, seeds[0], 0.0)
    batch = tf.shape(x)[0]
    if noise_bank is not None:
        pick, level, noisy = _noise_draw(batch, tf.shape(noise_bank)[0], config.noise_probability,
                                         config.max_noise_gain, seeds[1], snr_db)
        noise = tf.gather(noise_bank, pick)
        if snr_db is None:
            gain = level
        else:
            power = tf.reduce_mean(tf.square(x), axis=1) / (tf.reduce_mean(tf.square(noise), axis=1) + 1e-20)
            gain = tf.sqrt(power * 10.0 ** (-level / 10.0))
        x = x + (gain * tf.cast(noisy, tf.float32))[:, None] * noise
    return x * 10.0 ** (_uniform([batch, 1], -config.volume_db, config.volume_db, seeds[2]) / 20.0)


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
        flip = (_uniform([batch], 0.0, 1.0, seed) < self.share) & tf.gather(tf.constant(self.eligible), labels)
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
        keep = tf.cast(tf.math.ceil(tf.cast(end - onset, tf.float32) * _uniform([batch], *CUT_KEEPS, seeds[0])),
                       tf.int32)
        shift = (frames - keep - onset)[:, None]  # the word's first `keep` rows become the window's last
        cut = ((_uniform([batch], 0.0, 1.0, seeds[1]) < self.share) & found & (shift[:, 0] > 0)
               & tf.gather(tf.constant(self.eligible), labels))
        source = tf.range(frames)[None, :] - shift
        # the rows repeated end a little before the onset, where the word's rise is still below the line;
        # a word too near the clip's first row has no sound before it to repeat: the quietest value fills in
        before_word = (onset - WORD_RISE_ROWS)[:, None]
        source = tf.where((source < 0) & (before_word > 0), tf.math.floormod(source, tf.maximum(before_word, 1)),
                          source)
        moved = _take_rows(x, source, tf.reduce_min(x, axis=[1, 2], keepdims=True))
        return (tf.where(cut[:, None, None], moved, x),
                tf.where(cut, tf.constant(self.unknown, labels.dtype), labels))


def mixup(x: tf.Tensor, labels: tf.Tensor, class_weights: tf.Tensor, alpha: float,
          seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Mix each example with the one before it in its (shuffled) batch, by a share drawn from
    Beta(alpha, alpha): log-power spectrograms add their powers, waveforms their samples. Returns
    the mixed batch, the mixed one-hot labels, and each example's class weight mixed by the same
    share (so the loss is that weight times the cross-entropy against the mixed labels)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    batch = tf.shape(x)[0]
    # Beta(a, a) as the share of one of two Gamma(a) draws
    first, second = (tf.random.stateless_gamma([batch], s, alpha) for s in (seeds[0], seeds[1]))
    share = first / tf.maximum(first + second, 1e-30)
    partner = tf.roll(x, 1, axis=0)
    share_x = tf.reshape(share, [batch] + [1] * (x.shape.rank - 1))
    if x.shape.rank == 2:
        mixed = share_x * x + (1.0 - share_x) * partner
    else:
        # the log of share * power + (1 - share) * partner's power; a share of 0 or 1 keeps one of them
        tiny = 1e-30
        mixed = tf.experimental.numpy.logaddexp(x + tf.math.log(tf.maximum(share_x, tiny)),
                                                partner + tf.math.log(tf.maximum(1.0 - share_x, tiny)))
    n_classes = tf.shape(class_weights)[0]
    partner_labels = tf.roll(labels, 1, axis=0)
    share_y = share[:, None]
    soft = share_y * tf.one_hot(labels, n_classes) + (1.0 - share_y) * tf.one_hot(partner_labels, n_classes)
    weight = share * tf.gather(class_weights, labels) + (1.0 - share) * tf.gather(class_weights, partner_labels)
    return mixed, soft, weight


def smooth_labels(soft: tf.Tensor, share: float) -> tf.Tensor:
    """Label smoothing: each row keeps 1 - share of its probability and spreads share evenly over
    the classes, so the model is never asked for a probability of exactly 0 or 1."""
    if share == 0:
        return soft
    return soft * (1.0 - share) + share / tf.cast(tf.shape(soft)[-1], soft.dtype)
