"""Settings, derived audio sizes and where each stage keeps its files."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from . import PipelineError

# What the network sees. logspec and mfcc share one cache of log-power spectrograms (MFCCs are
# computed inside the model, so noise mixing still happens in the power domain); wave caches
# the 8 kHz signal itself.
FEATURE_KINDS = ("logspec", "mfcc", "wave")
STRATEGIES = ("default", "mirrored")
WAVE = "wave"


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Sizes of one clip and its spectrogram, derived once from a few choices."""

    sample_rate: int = 16_000
    target_rate: int = 8_000
    clip_seconds: float = 1.0
    window_ms: float = 20.0
    step_ms: float = 10.0

    def __post_init__(self) -> None:
        if self.window_samples < 2 or self.step_samples < 1 or self.window_samples > self.target_samples:
            raise PipelineError(
                f"audio settings give a {self.window_samples}-sample window and a "
                f"{self.step_samples}-sample step over {self.target_samples} samples; "
                "expected 2 <= window <= clip length and step >= 1"
            )

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def target_samples(self) -> int:
        return int(round(self.target_rate * self.clip_seconds))

    @property
    def window_samples(self) -> int:
        return int(round(self.target_rate * self.window_ms / 1000))

    @property
    def step_samples(self) -> int:
        return int(round(self.target_rate * self.step_ms / 1000))

    @property
    def n_frames(self) -> int:
        return 1 + (self.target_samples - self.window_samples) // self.step_samples

    @property
    def n_freqs(self) -> int:
        return self.window_samples // 2 + 1

    @property
    def feature_shape(self) -> tuple[int, int]:
        return (self.n_frames, self.n_freqs)

    def cache_shape(self, features: str) -> tuple[int, ...]:
        """Shape of one clip's cached features: the 8 kHz samples, or the spectrogram."""
        return (self.target_samples,) if features == WAVE else self.feature_shape


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that shapes an artefact. Each stage records the part it depends on."""

    seed: int = 42
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-3
    model: str = "mel-cnn"
    features: str = "logspec"
    augment: bool = True
    patience: int = 10
    ensemble: int = 1
    tta: bool = True
    calibrate_unknown: bool = True
    silence_share: float = 0.1
    # Validation should look like the test: whole speakers never trained on, words never
    # trained on, every label present. kaggle-mini keeps most "on"/"off" speakers in
    # testing_list.txt, so a share of those speakers joins validation too.
    extra_validation_share: float = 0.15
    holdout_words: tuple[str, ...] = ("dog", "happy", "tree", "wow")
    unknown_share: float = 0.2
    digital_silence_share: float = 0.1
    room_tone_share: float = 0.5
    noise_bank: int = 400
    require_noise: bool = False
    feature_dtype: str = "float16"
    # how training is spread over devices: the same recipe, slightly different arithmetic
    strategy: str = "default"
    # explore: clips per word whose audio is loaded (mean spectra, PCA, voice activity)
    explore_per_word: int = 100
    # baseline: the scikit-learn model whose test predictions become a submission (None: none)
    baseline_model: str | None = None
    workers: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    audio: AudioConfig = dataclasses.field(default_factory=AudioConfig)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise PipelineError(f"--epochs must be a positive integer; got {self.epochs}")
        if self.ensemble < 1 or self.patience < 1:
            raise PipelineError(f"--ensemble and --patience must be positive; got {self.ensemble} and {self.patience}")
        if self.batch_size < 1:
            raise PipelineError(f"--batch-size must be a positive integer; got {self.batch_size}")
        if not 0.0 <= self.silence_share < 1.0:
            raise PipelineError(f"--silence-share must be in [0, 1); got {self.silence_share}")
        for name in ("extra_validation_share", "unknown_share", "digital_silence_share", "room_tone_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise PipelineError(f"--{name.replace('_', '-')} must be in [0, 1]; got {getattr(self, name)}")
        from .labels import AUXILIARY_WORDS

        if unknown_words := sorted(set(self.holdout_words) - set(AUXILIARY_WORDS)):
            raise PipelineError(f"--holdout-words must be auxiliary words ({', '.join(AUXILIARY_WORDS)}); got {unknown_words}")
        if self.features not in FEATURE_KINDS:
            raise PipelineError(f"--features must be one of {', '.join(FEATURE_KINDS)}; got {self.features!r}")
        if self.strategy not in STRATEGIES:
            raise PipelineError(f"--strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}")
        if self.feature_dtype not in ("float16", "float32"):
            raise PipelineError(f"feature dtype must be float16 or float32; got {self.feature_dtype}")
        if self.workers < 1:
            raise PipelineError(f"--workers must be at least 1; got {self.workers}")
        if self.explore_per_word < 1:
            raise PipelineError(f"--explore-per-word must be at least 1; got {self.explore_per_word}")
        from .baseline import MODEL_NAMES

        if self.baseline_model is not None and self.baseline_model not in MODEL_NAMES:
            raise PipelineError(f"--baseline-model must be one of {', '.join(MODEL_NAMES)}; got {self.baseline_model!r}")

    @property
    def cached_representation(self) -> str:
        """What the features stage stores: the waveform, or the spectrogram that logspec and mfcc share."""
        return WAVE if self.features == WAVE else "spectrogram"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.audio.cache_shape(self.features)


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where the stages read and write. Everything under work_dir can be rebuilt."""

    input_dir: Path
    work_dir: Path
    output: Path

    @property
    def extract_dir(self) -> Path:
        return self.work_dir / "extract"

    @property
    def train_audio_dir(self) -> Path:
        return self.extract_dir / "train" / "audio"

    @property
    def test_audio_dir(self) -> Path:
        return self.extract_dir / "test" / "audio"

    @property
    def sample_submission(self) -> Path:
        return self.extract_dir / "sample_submission.csv"

    @property
    def prepare_dir(self) -> Path:
        return self.work_dir / "prepare"

    @property
    def index_csv(self) -> Path:
        return self.prepare_dir / "index.csv"

    @property
    def features_dir(self) -> Path:
        return self.work_dir / "features"

    @property
    def model_dir(self) -> Path:
        return self.work_dir / "model"

    @property
    def model_file(self) -> Path:
        return self.model_dir / "model.keras"

    @property
    def labels_file(self) -> Path:
        return self.model_dir / "labels.txt"

    @property
    def predict_dir(self) -> Path:
        return self.work_dir / "predict"

    @property
    def baseline_dir(self) -> Path:
        return self.work_dir / "baseline"

    @property
    def reports_dir(self) -> Path:
        return self.work_dir / "reports"

    def manifest(self, stage: str) -> Path:
        return self.work_dir / "manifests" / f"{stage}.json"
