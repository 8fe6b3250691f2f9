"""On-the-fly augmentation of batches of log-power spectrograms (batch, frames, freqs) and of waveforms.

Everything happens on the cached linear log-power spectrograms, so no audio is decoded
during training. All randomness is stateless, drawn from a seed per batch, so an epoch's
augmentation depends only on (seed, epoch, batch) and a resumed run repeats it exactly.
Noise mixing adds powers, which is exact in expectation for a noise
independent of the speech: log(exp(speech) + gain**2 * exp(noise)).
"""
from __future__ import annotations

import tensorflow as tf

from ..core.config import AugmentConfig


def uniform(shape, low, high, seed, dtype=tf.float32):
    return tf.random.stateless_uniform(shape, seed, low, high, dtype=dtype)


def take_rows(x: tf.Tensor, source: tf.Tensor, fill: tf.Tensor | float) -> tf.Tensor:
    """Row t of each example becomes its row source[:, t]; rows whose source lies outside get `fill`."""
    batch, frames = tf.shape(x)[0], tf.shape(x)[1]
    inside = (source >= 0) & (source < frames)
    taken = tf.gather(x, tf.clip_by_value(source, 0, frames - 1), batch_dims=1)
    return tf.where(tf.reshape(inside, [batch, frames] + [1] * (x.shape.rank - 2)), taken, fill)


def shift_in_time(x: tf.Tensor, max_shift: int, seed: tf.Tensor, fill: tf.Tensor | float) -> tf.Tensor:
    """Move each example along axis 1 by up to max_shift rows; uncovered rows get `fill`."""
    shift = uniform([tf.shape(x)[0], 1], -max_shift, max_shift + 1, seed, tf.int32)
    return take_rows(x, tf.range(tf.shape(x)[1])[None, :] - shift, fill)


def stretch_in_time(x: tf.Tensor, max_stretch: float, seed: tf.Tensor, fill: tf.Tensor | float) -> tf.Tensor:
    """Speed each example up or slow it down about its middle frame, by a rate drawn from
    1 +- max_stretch, keeping the pitch: frames are dropped or repeated (nearest frame)."""
    rate = uniform([tf.shape(x)[0], 1], 1.0 - max_stretch, 1.0 + max_stretch, seed)
    frames = tf.cast(tf.range(tf.shape(x)[1]), tf.float32)[None, :]
    middle = tf.cast(tf.shape(x)[1] - 1, tf.float32) / 2.0
    return take_rows(x, tf.cast(tf.round(middle + (frames - middle) * rate), tf.int32), fill)


def _noise_draw(batch, bank_size, probability: float, max_gain: float,
                seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Which noise window each example gets, its gain (up to max_gain) and whether it gets any noise at all."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    pick = uniform([batch], 0, bank_size, seeds[0], tf.int32)
    gain = uniform([batch], 0.0, max_gain, seeds[1])
    noisy = uniform([batch], 0.0, 1.0, seeds[2]) < probability
    return pick, gain, noisy


def mix_noise(x: tf.Tensor, noise_bank: tf.Tensor, probability: float, max_gain: float, seed: tf.Tensor) -> tf.Tensor:
    """Add a noise window's power to each selected example, at the noise file's own level times a
    gain up to max_gain."""
    pick, gain, noisy = _noise_draw(tf.shape(x)[0], tf.shape(noise_bank)[0], probability, max_gain, seed)
    gain = gain * tf.cast(noisy, tf.float32)
    return tf.experimental.numpy.logaddexp(x, tf.gather(noise_bank, pick)
                                           + 2.0 * tf.math.log(gain + 1e-12)[:, None, None])


def change_volume(x: tf.Tensor, db: float, seed: tf.Tensor) -> tf.Tensor:
    # Power is amplitude squared: +-db on the amplitude is +-db/10 decades of power.
    change = uniform([tf.shape(x)[0], 1, 1], -db, db, seed) / 10.0 * tf.math.log(10.0)
    return x + change


def mask(x: tf.Tensor, axis: int, max_width: int, seed: tf.Tensor) -> tf.Tensor:
    """SpecAugment: blank a random band (of time frames or frequencies) with the example's mean,
    so a mask adds no level of its own."""
    batch, size = tf.shape(x)[0], tf.shape(x)[axis]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    width = uniform([batch, 1], 0, max_width + 1, seeds[0], tf.int32)
    start = uniform([batch, 1], 0, tf.maximum(size - max_width, 1), seeds[1], tf.int32)
    positions = tf.range(size)[None, :]
    blank = (positions >= start) & (positions < start + width)
    blank = blank[:, :, None] if axis == 1 else blank[:, None, :]
    return tf.where(blank, tf.reduce_mean(x, axis=[1, 2], keepdims=True), x)


def augment_batch(x: tf.Tensor, noise_bank: tf.Tensor | None, config: AugmentConfig, seed: tf.Tensor,
                  samples_per_frame: int = 80, masks: int = 1) -> tf.Tensor:
    """`seed`: two integers; the same seed gives the same augmentation. A batch of waveforms
    (batch, samples) gets the same shift, noise and volume changes in the signal domain, and no masks.
    `masks`: time masks and frequency masks each spectrogram gets."""
    if x.shape.rank == 2:
        return augment_waves(x, noise_bank, config, seed, samples_per_frame)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    floor = tf.reduce_min(x, axis=[1, 2], keepdims=True)
    if config.max_stretch > 0:
        # its own stream, folded from the batch seed, so the other draws are those of a run without it
        x = stretch_in_time(x, config.max_stretch, tf.random.experimental.stateless_fold_in(seeds[0], 1), floor)
    x = shift_in_time(x, config.max_shift_frames, seeds[0], floor)
    if noise_bank is not None:
        x = mix_noise(x, noise_bank, config.noise_probability, config.max_noise_gain, seeds[1])
    x = change_volume(x, config.volume_db, seeds[2])
    for number in range(masks):
        # the first masks take the streams a single mask always took; later ones fold their own
        time_seed, freq_seed = ((seeds[3], seeds[4]) if number == 0 else
                                (tf.random.experimental.stateless_fold_in(s, number) for s in (seeds[3], seeds[4])))
        x = mask(x, 1, config.max_time_mask, time_seed)
        x = mask(x, 2, config.max_freq_mask, freq_seed)
    return x


def augment_waves(x: tf.Tensor, noise_bank: tf.Tensor | None, config: AugmentConfig, seed: tf.Tensor,
                  samples_per_frame: int) -> tf.Tensor:
    """The waveform counterpart of augment_batch: shift (zeros fill), added noise, volume."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    x = shift_in_time(x, config.max_shift_frames * samples_per_frame, seeds[0], 0.0)
    batch = tf.shape(x)[0]
    if noise_bank is not None:
        pick, gain, noisy = _noise_draw(batch, tf.shape(noise_bank)[0], config.noise_probability,
                                        config.max_noise_gain, seeds[1])
        x = x + (gain * tf.cast(noisy, tf.float32))[:, None] * tf.gather(noise_bank, pick)
    return x * 10.0 ** (uniform([batch, 1], -config.volume_db, config.volume_db, seeds[2]) / 20.0)
