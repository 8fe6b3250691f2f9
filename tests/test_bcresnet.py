"""BC-ResNet's sub-spectral normalisation: statistics of its own per band of frequencies, the moving
statistics inference uses, and the network's shape through its stages."""
import keras
import numpy as np
import pytest

from competition.core.config import AudioConfig
from competition.core.labels import LABELS
from competition.models import build_model
from competition.models.bcresnet import STEM_TIME_STRIDE, WIDTH, SubSpectralNorm
from competition.models.families import BN_MOMENTUM


def banded(rng, bands=20, channels=3):
    """(8, 30, bands, channels): each band's values around an offset and a scale of their own."""
    offsets = np.linspace(-40, 40, bands)[None, None, :, None]
    scales = np.linspace(0.5, 8, bands)[None, None, :, None]
    return (offsets + scales * rng.normal(size=(8, 30, bands, channels))).astype(np.float32)


def test_each_sub_band_and_channel_is_normalised_by_its_own_statistics():
    x = banded(np.random.default_rng(0))
    y = SubSpectralNorm(5)(x, training=True).numpy().reshape(8, 30, 5, 4, 3)
    assert np.allclose(y.mean(axis=(0, 1, 3)), 0, atol=1e-4)
    assert np.allclose(y.var(axis=(0, 1, 3)), 1, atol=1e-2)
    # one set of statistics for all bands leaves the bands far apart
    whole = SubSpectralNorm(1)(x, training=True).numpy().reshape(8, 30, 5, 4, 3)
    assert np.ptp(whole.mean(axis=(0, 1, 3)), axis=0).min() > 1


def test_one_sub_band_is_batch_normalisation_in_training_and_in_inference():
    rng = np.random.default_rng(1)
    ours, keras_bn = SubSpectralNorm(1), keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=1e-3)
    for _ in range(3):
        x = banded(rng)
        assert np.allclose(ours(x, training=True), keras_bn(x, training=True), atol=1e-4)
    x = banded(rng)
    assert np.allclose(ours(x, training=False), keras_bn(x, training=False), atol=1e-4)


def test_inference_uses_the_moving_statistics_not_the_batch():
    layer = SubSpectralNorm(5)
    x = banded(np.random.default_rng(2))
    before = layer(x, training=False).numpy()
    assert np.allclose(before, x / np.sqrt(1 + 1e-3), atol=1e-4)  # fresh: mean 0, variance 1
    for _ in range(200):
        layer(x, training=True)
    after = layer(x, training=False).numpy().reshape(8, 30, 5, 4, 3)
    assert np.allclose(after.mean(axis=(0, 1, 3)), 0, atol=1e-2)


def test_bands_that_do_not_split_are_refused():
    with pytest.raises(ValueError, match="7 bands do not split into 5 sub-bands"):
        SubSpectralNorm(5)(np.zeros((1, 4, 7, 2), np.float32))


def test_the_stages_halve_the_bands_and_keep_the_stems_frames():
    model = build_model("bc-resnet", AudioConfig(), len(LABELS))
    norms = [layer for layer in model.layers if isinstance(layer, SubSpectralNorm)]
    assert len(norms) == 12  # one per block
    frames = {layer.output.shape[1] for layer in norms}
    bands = [layer.output.shape[2] for layer in norms]
    assert frames == {-(-AudioConfig().cache_shape("logspec")[0] // STEM_TIME_STRIDE)}
    assert bands == [20, 20, 10, 10, 5, 5, 5, 5, 5, 5, 5, 5]
    channels = [layer.output.shape[-1] for layer in norms]
    assert [channels[i] for i in (0, 2, 4, 8)] == [8 * WIDTH, 12 * WIDTH, 16 * WIDTH, 20 * WIDTH]
