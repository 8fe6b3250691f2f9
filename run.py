#!/usr/bin/env python
"""Command line for the speech-commands pipeline: parse the flags, configure logging, dispatch."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the log

from competition import PipelineError  # noqa: E402
from competition.config import FEATURE_KINDS, STRATEGIES, AudioConfig, Paths, Settings  # noqa: E402
from competition.baseline import MODEL_NAMES as BASELINE_MODELS  # noqa: E402
from competition.pipeline import SIDE_STAGE_NAMES, STAGE_NAMES  # noqa: E402

KAGGLE_WORKING = Path("/kaggle/working")
DEFAULTS = Settings()


def default_work_dir(demo: bool) -> Path:
    base = KAGGLE_WORKING / "work" if KAGGLE_WORKING.is_dir() else Path("working")
    return base / "demo" if demo else base


def default_output(args: argparse.Namespace) -> Path:
    if args.stage == "baseline" and args.baseline_model:
        return Path(f"submissions/baseline-{args.baseline_model}.csv")  # never over the CNN's submission
    return Path("submissions/demo_submission.csv" if args.demo else "submissions/submission.csv")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Kaggle TensorFlow Speech Recognition Challenge: from the competition archives to submission.csv.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--stage", default="all", choices=("all", *STAGE_NAMES, *SIDE_STAGE_NAMES),
                        help="stage to run; 'all' runs every stage that is out of date, in order; "
                             f"{', '.join(SIDE_STAGE_NAMES)} run only when named")
    parser.add_argument("--from", dest="rerun_from", choices=STAGE_NAMES, default=None,
                        help="with --stage all: rerun this stage and every stage after it, even if up to date")
    parser.add_argument("--input-dir", type=Path, default=None,
                        help="folder with train.7z, test.7z and sample_submission.7z; when it lacks them, "
                             "/kaggle/input/** is searched (default: input/, or input/demo/ with --demo)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="folder for intermediate artefacts (default: working/, /kaggle/working/work/ "
                             "in a Kaggle kernel; a demo/ subfolder with --demo)")
    parser.add_argument("--output", type=Path, default=None,
                        help="submission file to write (default: submissions/submission.csv, "
                             "submissions/demo_submission.csv with --demo)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed for silence synthesis, shuffling, "
                        "augmentation and initialisation")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"most training epochs (default: {DEFAULTS.epochs}, or 8 with --demo)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="training batch size")
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate,
                        help="peak learning rate of the cosine schedule")
    parser.add_argument("--model", default=DEFAULTS.model,
                        help="model from the registry: mel-cnn, cnn (81 linear bins), seed-cnn (the notebook recipe), "
                             "dense (pooled features) or conv1d (raw 8 kHz waveform)")
    parser.add_argument("--features", choices=FEATURE_KINDS, default=None,
                        help="what the model reads: logspec (log-power spectrogram), mfcc (13 MFCCs with deltas, "
                             "computed in the model from the same cache) or wave (the 8 kHz signal) "
                             "(default: the model's own: wave for conv1d, mfcc for dense, logspec for the rest)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=DEFAULTS.augment,
                        help="time shift, noise mixing, volume and SpecAugment masks while training")
    parser.add_argument("--patience", type=int, default=DEFAULTS.patience,
                        help="stop training after this many epochs without a better validation score")
    parser.add_argument("--ensemble", type=int, default=DEFAULTS.ensemble,
                        help="models to train with seeds seed, seed+1, ...; predict averages them")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=DEFAULTS.tta,
                        help="average predictions over small time shifts at test time")
    parser.add_argument("--calibrate-unknown", action=argparse.BooleanOptionalAction, default=DEFAULTS.calibrate_unknown,
                        help="predict unknown below a confidence threshold chosen on validation")
    parser.add_argument("--extra-validation-share", type=float, default=DEFAULTS.extra_validation_share,
                        help="share of testing_list.txt speakers that join validation")
    parser.add_argument("--holdout-words", default=",".join(DEFAULTS.holdout_words),
                        help="comma-separated auxiliary words kept out of training, validated as never-seen unknowns")
    parser.add_argument("--room-tone-share", type=float, default=DEFAULTS.room_tone_share,
                        help="share of silence clips made from the quiet stretches of word recordings "
                             "(the rest: windows of the background-noise files)")
    parser.add_argument("--unknown-share", type=float, default=DEFAULTS.unknown_share,
                        help="most auxiliary-word clips allowed in training, as a share of it")
    parser.add_argument("--silence-share", type=float, default=DEFAULTS.silence_share,
                        help="share of synthesised silence clips in training and validation")
    parser.add_argument("--feature-dtype", choices=("float16", "float32"), default=DEFAULTS.feature_dtype,
                        help="dtype of the cached spectrograms")
    parser.add_argument("--strategy", choices=STRATEGIES, default=DEFAULTS.strategy,
                        help="default: train on one device; mirrored: tf.distribute.MirroredStrategy over every "
                             "visible GPU (e.g. Kaggle's 2x T4), the batch split between them")
    parser.add_argument("--workers", type=int, default=DEFAULTS.workers,
                        help="processes for feature extraction (default: all cores)")
    parser.add_argument("--require-noise", action="store_true",
                        help="fail when train/audio/_background_noise_ has no noise files, instead of falling "
                             "back to digital silence")
    parser.add_argument("--explore-per-word", type=int, default=DEFAULTS.explore_per_word,
                        help="--stage explore: clips per word whose audio is loaded for the spectra, PCA and "
                             "voice-activity figures (seeded sample)")
    parser.add_argument("--baseline-model", choices=BASELINE_MODELS, default=DEFAULTS.baseline_model,
                        help="--stage baseline: also write this model's test predictions to --output "
                             "(default there: submissions/baseline-MODEL.csv); None: only the validation table")
    parser.add_argument("--classify", type=Path, nargs="+", default=None, metavar="PATH.wav",
                        help="instead of running stages, print the label and top-3 probabilities of each WAV "
                             "file with the model trained in --work-dir")
    parser.add_argument("--demo", action="store_true",
                        help="generate a small synthetic competition in the input folder (when it holds no "
                             "archives) and run on it")
    parser.add_argument("--score", type=Path, default=None, metavar="SOLUTION.csv",
                        help="instead of running stages, score --output against this solution file "
                             "(fname,label[,Usage]) and print accuracy overall, per Usage and per class")
    parser.add_argument("--verbose", action="store_true", help="log debug messages too")
    return parser.parse_args(argv)


def classify_files(paths: Paths, settings: Settings, files: list[Path]) -> int:
    """Print one line per file as it is classified; a bad file is reported and the rest go on."""
    from competition.classify import classify

    failed = 0
    for result in classify(paths, settings, files):
        print(result.line(), file=sys.stderr if result.error else sys.stdout, flush=True)
        failed += bool(result.error)
    if failed:
        print(f"error: {failed} of {len(files)} files could not be classified", file=sys.stderr)
    return 1 if failed else 0


def model_features(model: str, features: str | None) -> str:
    """Check --model and --features together; the model's own features when none are named."""
    from competition.models import check_features, default_features, model_names  # imports TensorFlow

    if model not in model_names():
        raise PipelineError(f"--model {model!r} is not in the registry; expected one of {', '.join(model_names())}")
    features = features or default_features(model)
    check_features(model, features)
    return features


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    log = logging.getLogger("run")
    if args.rerun_from and args.stage != "all":
        print(f"error: --from {args.rerun_from} only applies to --stage all", file=sys.stderr)
        return 2
    try:
        features = args.features or DEFAULTS.features
        if args.stage not in SIDE_STAGE_NAMES and not (args.score or args.classify):
            features = model_features(args.model, args.features)
        settings = Settings(
            seed=args.seed, epochs=args.epochs if args.epochs is not None else (8 if args.demo else DEFAULTS.epochs),
            batch_size=args.batch_size, learning_rate=args.learning_rate, model=args.model, features=features,
            strategy=args.strategy,
            silence_share=args.silence_share, feature_dtype=args.feature_dtype, workers=args.workers,
            augment=args.augment, patience=args.patience, ensemble=args.ensemble, tta=args.tta,
            calibrate_unknown=args.calibrate_unknown, extra_validation_share=args.extra_validation_share,
            holdout_words=tuple(w for w in args.holdout_words.split(",") if w), unknown_share=args.unknown_share,
            require_noise=args.require_noise, room_tone_share=args.room_tone_share, explore_per_word=args.explore_per_word,
            baseline_model=args.baseline_model, audio=AudioConfig(),
        )
        paths = Paths(
            input_dir=args.input_dir or Path("input/demo" if args.demo else "input"),
            work_dir=args.work_dir or default_work_dir(args.demo),
            output=args.output or default_output(args),
        )
        if args.score:
            from competition.scoring import format_report, score

            print(format_report(score(paths.output, args.score)))
            return 0
        if args.classify:
            return classify_files(paths, settings, args.classify)
        from competition import pipeline

        if args.demo:
            from competition.archives import ARCHIVES
            from competition.demo import make_demo_competition

            if not all((paths.input_dir / name).is_file() for name in ARCHIVES):
                make_demo_competition(paths.input_dir, seed=args.seed)
            else:
                log.info("using the demo competition already in %s", paths.input_dir)
        pipeline.run(args.stage, paths, settings, rerun_from=args.rerun_from)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
