"""Every setting, defined once; the derived audio sizes; and each stage's own config.

A setting is a field of `Settings` whose metadata carries its help text and choices: the
command line is generated from it (`core.flags`), and each stage's config is a frozen
dataclass naming the settings that stage may read. A stage's function receives only its
config, and its fingerprint is that whole config, so nothing can shape an output without
invalidating it.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

from .. import PipelineError
from .cluster import MULTI_WORKER
from .labels import AUXILIARY_WORDS

# What the network sees. logspec and mfcc share one cache of log-power spectrograms (MFCCs are
# computed inside the model, so noise mixing still happens in the power domain); wave caches
# the signal itself at the model's rate (AudioConfig.target_rate).
FEATURE_KINDS = ("logspec", "mfcc", "wave")
WAVE = "wave"
SPECTROGRAM = "spectrogram"
STRATEGIES = ("default", "mirrored", MULTI_WORKER)
FEATURE_DTYPES = ("float16", "float32")
BASELINE_MODELS = ("knn", "logreg", "forest", "linear-svm", "boosting")


def cached_representation(features: str) -> str:
    """What the features stage stores for a model reading `features`: the waveform, or the
    spectrogram that logspec and mfcc share."""
    return WAVE if features == WAVE else SPECTROGRAM


def setting(default: Any = dataclasses.MISSING, help: str = "", *, choices: tuple | None = None,
            flag: bool = True, shapes_output: bool = True, demo_default: Any = None,
            default_factory: Any = dataclasses.MISSING, default_text: str | None = None,
            tasks: tuple[str, ...] | None = None, through: str | None = None) -> Any:
    """A dataclass field that is also a command-line flag (unless flag=False).

    shapes_output=False marks the few settings that change how fast a stage runs but never what
    it writes (--workers); they are left out of fingerprints. default_text replaces the default
    in the help where the flag's real default is decided at run time (the model's own features).
    tasks names the only tasks that read the setting: other tasks' fingerprints leave it out, so a
    new task's settings never invalidate the runs of the tasks that ignore them. through names the
    derived field (a property or another field) that carries the setting into the stages' configs.
    """
    metadata = {"help": help, "choices": choices, "flag": flag, "shapes_output": shapes_output,
                "demo_default": demo_default, "default_text": default_text, "tasks": tasks, "through": through}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# The notebook recipe's rate (and a telephone's), the original design's and --sample-rate 8000: explore
# shows what it throws away, and the scale benchmark checks our front end against the recipe at it.
NOTEBOOK_RATE = 8_000
MODEL_RATES = (NOTEBOOK_RATE, 16_000)


# --false-accepts-per-hour: a listener left on in a room may name a command about once in a quarter of an
# hour where nobody said one; the threshold that keeps to it is chosen on validation (docs/listening.md).
FALSE_ACCEPTS_PER_HOUR = 4.0


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Sizes of one clip and its spectrogram, derived once from a few choices."""

    sample_rate: int = 16_000
    # The rate the model hears. 16 kHz keeps the fricatives' energy above 4 kHz ('f' of off, 's'
    # of yes and stop); the notebook recipe's 8 kHz lost it, and one point of validation with it.
    target_rate: int = 16_000
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
        """Shape of one clip's cached features: the samples at target_rate, or the spectrogram."""
        return (self.target_samples,) if features == WAVE else self.feature_shape


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation of cached features (see train.augmentation)."""

    max_shift_frames: int = 10      # +-100 ms at a 10 ms step
    max_stretch: float = 0.1        # speaking rate: each clip played 0.9 to 1.1 times as fast
    noise_probability: float = 0.8  # as in TensorFlow's speech_commands reference
    max_noise_gain: float = 0.1
    volume_db: float = 6.0
    max_time_mask: int = 10
    max_freq_mask: int = 8          # linear bins


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of the pipeline, each defined once. Field order is the order of --help."""

    task: str = setting("commands", "what to learn from the recordings: commands (the competition's 12 labels), "
                                    "words (all 30 words) or speakers (who said it); each task keeps its own "
                                    "folder in the work folder")
    seed: int = setting(42, "seed for silence synthesis, shuffling, augmentation and initialisation")
    epochs: int = setting(40, "most training epochs", demo_default=8)
    batch_size: int = setting(64, "training batch size")
    learning_rate: float = setting(1e-3, "peak learning rate of the cosine schedule")
    model: str = setting("mel-cnn", "model from the registry: mel-cnn, bc-resnet (broadcasted residual, 40 log-mel "
                                    "bands), cnn (161 linear bins), seed-cnn (the notebook recipe), dense (pooled "
                                    "features) or conv1d (raw waveform)")
    sample_rate: int = setting(16_000, "the rate the model hears, in Hz: 16000 keeps the energy of the fricatives "
                                       "above 4 kHz (the f of off, the s of yes and stop); 8000 is the original "
                                       "design's recipe (each clip resampled to 8 kHz, log-spectrograms of 0 to "
                                       "4 kHz)", choices=MODEL_RATES, through="audio")
    features: str = setting("logspec", "what the model reads: logspec (log-power spectrogram), mfcc (13 MFCCs with "
                                       "deltas, computed in the model from the same cache) or wave (the signal itself)",
                            choices=FEATURE_KINDS,
                            default_text="the model's own: wave for conv1d, mfcc for dense, logspec for the rest")
    augment: bool = setting(True, "speaking rate, time shift, noise mixing, volume and SpecAugment masks while "
                                  "training")
    spec_masks: int = setting(1, f"SpecAugment: how many time masks (each up to "
                                 f"{AugmentConfig.max_time_mask * AudioConfig.step_ms:g} ms) and how many frequency "
                                 f"masks each training spectrogram gets; 0: none")
    patience: int = setting(10, "stop training after this many epochs without a better validation score")
    ensemble: int = setting(1, "models to train with seeds seed, seed+1, ...; predict averages them")
    tta: bool = setting(True, "average predictions over small time shifts at test time")
    calibrate_unknown: bool = setting(True, "predict unknown below a confidence threshold chosen on validation")
    silence_share: float = setting(0.1, "share of synthesised silence clips in training and validation")
    # Validation should look like the test: whole speakers never trained on, words never
    # trained on, every label present. kaggle-mini keeps most "on"/"off" speakers in
    # testing_list.txt, so a share of those speakers joins validation too.
    extra_validation_share: float = setting(0.15, "share of testing_list.txt speakers that join validation")
    holdout_words: tuple[str, ...] = setting(("dog", "happy", "tree", "wow"),
                                             "comma-separated auxiliary words kept out of training, validated as "
                                             "never-seen unknowns")
    unknown_share: float = setting(0.2, "most auxiliary-word clips allowed in training, as a share of it")
    min_clips_per_speaker: int = setting(10, "--task speakers: speakers with at least this many clips are the "
                                             "classes; the others are never trained on and score verification",
                                         tasks=("speakers",))
    speaker_validation_share: float = setting(0.3, "--task speakers: seeded share of each speaker's clips held "
                                                   "out for validation", tasks=("speakers",))
    digital_silence_share: float = setting(0.1, "share of the noise-file silence clips that are digital silence")
    room_tone_share: float = setting(0.5, "share of silence clips made from the quiet stretches of word recordings "
                                          "(the rest: windows of the background-noise files)")
    noise_bank: int = setting(400, "one-second noise windows that training mixes into words")
    require_noise: bool = setting(False, "fail when train/audio/_background_noise_ has no noise files, instead of "
                                         "falling back to digital silence")
    # Silence is planned by the level it will have (RMS, in decades of full scale), not by a gain
    # on the file: noise files come at arbitrary levels, and real recorded silence ranges from a
    # quiet room to a loud fan or tap, louder than most spoken words.
    silence_rms_decades: tuple[float, float] = setting((-4.0, -0.5), "RMS levels of noise-file silence", flag=False)
    feature_dtype: str = setting("float16", "dtype of the cached features", choices=FEATURE_DTYPES)
    strategy: str = setting("default", "default: train on one device; mirrored: tf.distribute.MirroredStrategy over "
                                       "every visible GPU (e.g. Kaggle's 2x T4), the batch split between them; "
                                       "multi-worker: tf.distribute.MultiWorkerMirroredStrategy over the machines "
                                       "listed in TF_CONFIG, worker 0 (the chief) writing the model and the "
                                       "submission", choices=STRATEGIES)
    engine: str = setting("keras", "what runs the trained model in predict, --classify and --listen: keras (the "
                                   "trained files), tflite or tflite-int8 (the audio-in files of --stage export)")
    # --listen: chosen on two 10-minute streams of the validation speakers' clips (benchmarks/streams.py
    # sweep; README, Listening): a 200 ms hop keeps one core 35x faster than real time at the accuracy of
    # a 100 ms hop. The rest were chosen again for the 16 kHz model by the same rule (the most commands
    # named right with at most 3 % wrong names and 1 false detection a minute on validation).
    listen_hop_ms: int = setting(200, "--listen: time between the one-second windows the model scores")
    listen_average_ms: int = setting(600, "--listen: scores are averaged over the windows that end within this "
                                          "span (at least one)")
    listen_threshold: float | None = setting(None, "--listen: least averaged score of a command that counts as a "
                                                   "detection; none: the lowest that kept to "
                                                   "--false-accepts-per-hour on the validation speakers' negative "
                                                   "streams (--stage operating), 0.7 where they were not measured")
    false_accepts_per_hour: float = setting(FALSE_ACCEPTS_PER_HOUR, "--listen and the export: how many commands "
                                            "an hour the listener may report where none was said, as measured by "
                                            "--stage operating; sets the threshold unless --listen-threshold does")
    operating_minutes: float = setting(40.0, "--stage operating: minutes of negative streams (the validation "
                                             "speakers' other words, talk, noise) the false accepts are counted on; "
                                             "the command streams last half as long", demo_default=4.0)
    listen_suppression_ms: int = setting(1250, "--listen: no detection within this time of the previous one")
    listen_peak_ms: int = setting(0, "--listen: after a command's averaged score reaches the threshold, wait up "
                                       "to this long for it to peak and report the label it has there (0: at once)")
    # --listen-pause-ms: chosen on the validation speakers' streams over three seeds (docs/listening-negatives.md):
    # 150 ms cut the false accepts in talk at every seed, at about a point of commands in isolated words.
    listen_pause_ms: int = setting(150, "--listen: report a command only where one of the averaged windows holds a "
                                        "whole word, with at least this much quiet before and after it (0: anywhere)")
    explore_per_word: int = setting(100, "--stage explore: clips per word whose audio is loaded for the spectra, "
                                         "PCA and voice-activity figures (seeded sample)")
    baseline_model: str | None = setting(None, "--stage baseline: also write this model's test predictions to "
                                               "--output (default there: submissions/baseline-MODEL.csv); None: only "
                                               "the validation table", choices=BASELINE_MODELS)
    workers: int = setting(help="processes for feature extraction and the baseline's features",
                           default_factory=lambda: os.cpu_count() or 1, shapes_output=False,
                           default_text="all cores")
    audio: AudioConfig = setting(help="clip and spectrogram sizes", default_factory=AudioConfig, flag=False)
    augmentation: AugmentConfig = setting(help="augmentation ranges", default_factory=AugmentConfig, flag=False)

    def __post_init__(self) -> None:
        if self.audio.target_rate != self.sample_rate:  # the stages read the rate through the audio sizes
            object.__setattr__(self, "audio", dataclasses.replace(self.audio, target_rate=self.sample_rate))
        positive = ("epochs", "batch_size", "ensemble", "patience", "workers", "explore_per_word", "noise_bank")
        for name in positive:
            if getattr(self, name) < 1:
                raise PipelineError(f"{flag_name(name)} must be a positive integer; got {getattr(self, name)}")
        if self.spec_masks < 0:
            raise PipelineError(f"--spec-masks must be at least 0 (0: no masks); got {self.spec_masks}")
        if self.spec_masks != 1:  # an explicit request that would otherwise be ignored without a word
            if not self.augment:
                raise PipelineError("--spec-masks: training augmentation, which --no-augment turns off; "
                                    "drop one or the other")
            if self.features == WAVE:
                raise PipelineError(f"--spec-masks masks spectrograms; --features {WAVE} trains on the signal, "
                                    f"which gets no masks")
        if not 0.0 <= self.silence_share < 1.0:
            raise PipelineError(f"--silence-share must be in [0, 1); got {self.silence_share}")
        if self.min_clips_per_speaker < 2:
            raise PipelineError(f"--min-clips-per-speaker must be at least 2 (one to train on, one to validate); "
                                f"got {self.min_clips_per_speaker}")
        if not 0.0 < self.speaker_validation_share < 1.0:
            raise PipelineError(f"--speaker-validation-share must be in (0, 1); got {self.speaker_validation_share}")
        for name in ("extra_validation_share", "unknown_share", "digital_silence_share", "room_tone_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise PipelineError(f"{flag_name(name)} must be in [0, 1]; got {getattr(self, name)}")
        if not 0 < self.listen_hop_ms <= 1000 * self.audio.clip_seconds:
            raise PipelineError(f"--listen-hop-ms must be in (0, {1000 * self.audio.clip_seconds:g}] (one window); "
                                f"got {self.listen_hop_ms}")
        for name in ("listen_average_ms", "listen_suppression_ms", "listen_peak_ms"):
            if getattr(self, name) < 0:
                raise PipelineError(f"{flag_name(name)} must be at least 0; got {getattr(self, name)}")
        if not 0 <= self.listen_pause_ms < 500 * self.audio.clip_seconds:
            raise PipelineError(f"--listen-pause-ms must be in [0, {500 * self.audio.clip_seconds:g}) (a pause on each "
                                f"side of a word, inside one window); got {self.listen_pause_ms}")
        if self.listen_threshold is not None and not 0.0 <= self.listen_threshold <= 1.0:
            raise PipelineError(f"--listen-threshold must be in [0, 1]; got {self.listen_threshold}")
        if self.false_accepts_per_hour < 0:
            raise PipelineError(f"--false-accepts-per-hour must be at least 0; got {self.false_accepts_per_hour}")
        if self.operating_minutes <= 0:
            raise PipelineError(f"--operating-minutes must be positive; got {self.operating_minutes}")
        if unknown_words := sorted(set(self.holdout_words) - set(AUXILIARY_WORDS)):
            raise PipelineError(f"--holdout-words must be auxiliary words ({', '.join(AUXILIARY_WORDS)}); "
                                f"got {unknown_words}")
        for field in dataclasses.fields(self):
            choices = field.metadata.get("choices")
            value = getattr(self, field.name)
            if choices and value is not None and value not in choices:
                raise PipelineError(f"{flag_name(field.name)} must be one of {', '.join(map(str, choices))}; "
                                    f"got {value!r}")

    @property
    def cached_representation(self) -> str:
        return cached_representation(self.features)


# How --help groups the settings' flags, by concern; every flag-bearing setting is in exactly one group
# (core.flags refuses a setting left out, so a new one cannot go missing from --help).
FLAG_GROUPS: dict[str, tuple[str, ...]] = {
    "what to learn, and the data": ("task", "seed", "silence_share", "extra_validation_share", "holdout_words",
                                    "unknown_share", "min_clips_per_speaker", "speaker_validation_share",
                                    "digital_silence_share", "room_tone_share", "noise_bank", "require_noise"),
    "features": ("sample_rate", "features", "feature_dtype", "workers"),
    "model and training": ("model", "epochs", "batch_size", "learning_rate", "patience", "ensemble", "strategy"),
    "augmentation": ("augment", "spec_masks"),
    "prediction": ("engine", "tta", "calibrate_unknown"),
    "listening (--listen, --stage operating)": ("false_accepts_per_hour", "listen_threshold", "listen_hop_ms",
                                                "listen_average_ms", "listen_suppression_ms", "listen_peak_ms",
                                                "listen_pause_ms", "operating_minutes"),
    "side stages": ("explore_per_word", "baseline_model"),
}


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


# --- each stage's config: the settings it may read, and nothing else ------------------------

C = TypeVar("C")


def project(config_class: type[C], settings: Settings, **extra: Any) -> C:
    """Build a stage's config from the settings of the same names (and `extra`, for what comes
    from elsewhere, such as the output path). A field with a default that is not a setting is
    a constant of the stage's code (a cache format version): it keeps its default."""
    values = {}
    for field in dataclasses.fields(config_class):
        if field.name in extra:
            values[field.name] = extra[field.name]
        elif hasattr(settings, field.name):
            values[field.name] = getattr(settings, field.name)
        elif field.default is dataclasses.MISSING:
            raise TypeError(f"{config_class.__name__}.{field.name} is neither a setting nor given")
    return config_class(**values)


def fingerprint(config: Any) -> dict:
    """The whole config, less the settings declared not to shape any output, and those that only
    other tasks read."""
    task = getattr(config, "task", None)
    skipped = {name for name, field in Settings.__dataclass_fields__.items()
               if not field.metadata.get("shapes_output", True)
               or (field.metadata.get("tasks") is not None and task not in field.metadata["tasks"])}
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in skipped}


@dataclasses.dataclass(frozen=True)
class ExtractConfig:
    """extract reads only the archives, which the manifest records by size and time."""


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    task: str
    seed: int
    silence_share: float
    extra_validation_share: float
    holdout_words: tuple[str, ...]
    unknown_share: float
    min_clips_per_speaker: int
    speaker_validation_share: float
    digital_silence_share: float
    room_tone_share: float
    noise_bank: int
    require_noise: bool
    silence_rms_decades: tuple[float, float]
    audio: AudioConfig


# Bump when the layout of the cached feature files changes, so caches from older code are rebuilt.
FEATURE_CACHE_FORMAT = 2


@dataclasses.dataclass(frozen=True)
class FeaturesConfig:
    audio: AudioConfig
    feature_dtype: str
    cached_representation: str
    workers: int
    cache_format: int = FEATURE_CACHE_FORMAT


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    task: str
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    model: str
    features: str
    augment: bool
    augmentation: AugmentConfig
    spec_masks: int
    strategy: str
    patience: int
    ensemble: int
    tta: bool
    calibrate_unknown: bool
    feature_dtype: str
    audio: AudioConfig

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.audio.cache_shape(self.features)


@dataclasses.dataclass(frozen=True)
class RefitConfig(TrainConfig):
    """--stage refit: the validated run's recipe again, on training and validation clips together, and the
    submission of the model it makes."""

    output: str


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    task: str
    engine: str
    output: str


@dataclasses.dataclass(frozen=True)
class OperatingConfig:
    """--stage operating: the listener swept over thresholds on the validation speakers' streams."""

    task: str
    seed: int                   # draws the streams
    listen_hop_ms: int          # the recogniser, all but its threshold
    listen_average_ms: int
    listen_suppression_ms: int
    listen_peak_ms: int
    listen_pause_ms: int
    operating_minutes: float


# Bump when the exported graph or its quantisation changes, so older exports are rebuilt.
EXPORT_FORMAT = 3


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    seed: int                   # draws the int8 calibration clips
    # the recogniser's operating point, written into the folder so that a device listens as --listen does
    listen_hop_ms: int
    listen_average_ms: int
    listen_threshold: float | None
    listen_suppression_ms: int
    listen_peak_ms: int
    listen_pause_ms: int
    false_accepts_per_hour: float
    calibration_clips: int = 500
    export_format: int = EXPORT_FORMAT


@dataclasses.dataclass(frozen=True)
class ListenConfig:
    """--listen: a command, not a stage (it writes nothing a stage reads), but its settings are
    named here like a stage's so that it, too, sees only what it may read. A threshold of None is
    the operating point's for `false_accepts_per_hour`."""

    engine: str
    listen_hop_ms: int
    listen_average_ms: int
    listen_threshold: float | None
    listen_suppression_ms: int
    listen_peak_ms: int
    false_accepts_per_hour: float = FALSE_ACCEPTS_PER_HOUR
    listen_pause_ms: int = 0  # an export made before this setting listened without it


@dataclasses.dataclass(frozen=True)
class ExploreConfig:
    seed: int
    explore_per_word: int
    audio: AudioConfig


# Bump when the baseline's pooled features change, so its caches are not reused.
BASELINE_CACHE_FORMAT = 1
# Bump when baseline/results.csv gains columns, so a table without them is refitted (the features' cache is kept).
BASELINE_RESULTS_FORMAT = 2


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    task: str
    seed: int
    baseline_model: str | None
    output: str | None
    audio: AudioConfig
    workers: int
    cache_format: int = BASELINE_CACHE_FORMAT
    results_format: int = BASELINE_RESULTS_FORMAT


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    seed: int
