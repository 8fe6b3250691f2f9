"""--noise-snr-db: training noise mixed at a signal-to-noise ratio, not at the noise files' stored level."""
import numpy as np
import pytest
import tensorflow as tf

import run
from competition import PipelineError
from competition.core.config import Settings, TrainConfig, fingerprint, project
from competition.core.flags import settings_from_args
from competition.train.augmentation import AugmentConfig, augment_batch, mix_noise
from competition.train.trainer import epoch_dataset

SEED = tf.constant([5, 6], tf.int64)
# only the noise: no shift, stretch, volume change or masks
NOISE_ONLY = AugmentConfig(max_stretch=0.0, max_shift_frames=0, noise_probability=1.0, volume_db=0.0,
                           max_time_mask=0, max_freq_mask=0)


def _spectrograms(batch=32, level_spread=6.0, seed=0) -> tuple[tf.Tensor, tf.Tensor]:
    """Log-power spectrograms of clips whose levels differ by decades, and a noise bank."""
    rng = np.random.default_rng(seed)
    levels = rng.uniform(-level_spread, 0.0, size=(batch, 1, 1))
    x = rng.normal(size=(batch, 99, 161)) + levels
    bank = rng.normal(size=(7, 99, 161)) - 9.0
    return tf.constant(x.astype(np.float32)), tf.constant(bank.astype(np.float32))


def _ratio_db(clean: np.ndarray, mixed: np.ndarray) -> np.ndarray:
    """Each example's mean power over the mean power the mix added, in dB."""
    clean_power = np.exp(clean.astype(np.float64)).mean(axis=(1, 2))
    added = (np.exp(mixed.astype(np.float64)) - np.exp(clean.astype(np.float64))).mean(axis=(1, 2))
    return 10.0 * np.log10(clean_power / added)


def test_the_noise_lands_at_the_drawn_ratio_whatever_level_the_files_are_stored_at():
    x, bank = _spectrograms()
    fixed = mix_noise(x, bank, 1.0, 0.1, SEED, snr_db=(10.0, 10.0)).numpy()
    np.testing.assert_allclose(_ratio_db(x.numpy(), fixed), 10.0, atol=0.01)
    # the same files stored 30 dB louder give the same mix
    np.testing.assert_allclose(mix_noise(x, bank + 3.0 * np.log(10.0), 1.0, 0.1, SEED, snr_db=(10.0, 10.0)).numpy(),
                               fixed, rtol=1e-5, atol=1e-5)
    # the gain rule does depend on the stored level: louder files, louder noise
    quiet, loud = (mix_noise(x, b, 1.0, 0.1, SEED).numpy() for b in (bank, bank + 3.0 * np.log(10.0)))
    assert (_ratio_db(x.numpy(), loud) < _ratio_db(x.numpy(), quiet) - 25.0).all()


def test_ratios_are_drawn_over_the_range_and_the_probability_leaves_some_clips_clean():
    x, bank = _spectrograms(batch=400, seed=1)
    ratios = _ratio_db(x.numpy(), mix_noise(x, bank, 1.0, 0.1, SEED, snr_db=(0.0, 20.0)).numpy())
    assert ratios.min() >= -0.01 and ratios.max() <= 20.01
    assert ratios.min() < 2.0 and ratios.max() > 18.0 and 8.0 < np.median(ratios) < 12.0
    half = mix_noise(x, bank, 0.5, 0.1, SEED, snr_db=(0.0, 20.0)).numpy()
    untouched = (half == x.numpy()).all(axis=(1, 2))
    assert 0.35 < untouched.mean() < 0.65


def test_waveforms_get_the_same_ratio():
    rng = np.random.default_rng(2)
    waves = tf.constant((rng.normal(size=(16, 16000)) * rng.uniform(0.001, 0.3, size=(16, 1))).astype(np.float32))
    bank = tf.constant((rng.normal(size=(3, 16000)) * 0.003).astype(np.float32))
    mixed = augment_batch(waves, bank, NOISE_ONLY, SEED, snr_db=(6.0, 6.0)).numpy()
    added = mixed - waves.numpy()
    ratios = 10.0 * np.log10((waves.numpy() ** 2).mean(axis=1) / (added ** 2).mean(axis=1))
    np.testing.assert_allclose(ratios, 6.0, atol=0.01)
    louder = augment_batch(waves, bank * 100.0, NOISE_ONLY, SEED, snr_db=(6.0, 6.0)).numpy()
    np.testing.assert_allclose(louder, mixed, rtol=1e-4, atol=1e-6)


def test_the_setting_is_checked_parsed_fingerprinted_and_reaches_the_epochs_batches():
    for refused, message in (({"noise_snr_db": (20.0,)}, "two finite numbers"),
                             ({"noise_snr_db": (20.0, 0.0)}, "LOW <= HIGH"),
                             ({"noise_snr_db": (0.0, float("nan"))}, "two finite numbers"),
                             ({"noise_snr_db": (0.0, 20.0), "augment": False}, "--no-augment turns off")):
        with pytest.raises(PipelineError, match=message):
            Settings(**refused)
    assert settings_from_args(run.parse_args(["--noise-snr-db", "0,20"])).noise_snr_db == (0.0, 20.0)
    assert settings_from_args(run.parse_args([])).noise_snr_db == ()
    with pytest.raises(SystemExit):
        run.parse_args(["--noise-snr-db", "loud"])
    default = fingerprint(project(TrainConfig, Settings()))
    assert fingerprint(project(TrainConfig, Settings(noise_snr_db=(0.0, 20.0)))) != default

    audio = Settings().audio
    x = np.random.default_rng(3).normal(size=(8, *audio.feature_shape)).astype(np.float16)
    bank = tf.constant(np.random.default_rng(4).normal(size=(3, *audio.feature_shape)).astype(np.float32) - 9.0)
    y = np.arange(8, dtype=np.int32) % 3

    def batch(**settings):
        (features, _), = list(epoch_dataset(x, y, bank, Settings(batch_size=8, **settings), member=0, epoch=0))
        return features.numpy()

    assert not np.array_equal(batch(), batch(noise_snr_db=(0.0, 20.0)))
    assert np.array_equal(batch(noise_snr_db=(0.0, 20.0)), batch(noise_snr_db=(0.0, 20.0)))
