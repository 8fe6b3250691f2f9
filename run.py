#!/usr/bin/env python
"""Command line for the speech-commands pipeline: parse the flags, configure logging, dispatch."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the log

from competition import PipelineError  # noqa: E402
from competition.core.config import Settings  # noqa: E402
from competition.core.flags import DEFAULTS, add_setting_flags, read_recipe, settings_from_args  # noqa: E402
from competition.core.paths import (  # noqa: E402
    DEMO,
    KAGGLE_ROOT,
    LOCAL_INPUT,
    LOCAL_SUBMISSIONS,
    LOCAL_WORK,
    Kaggle,
    Paths,
    default_input_dir,
    default_submission,
    default_work_dir,
)
from competition.inference.engines import engine_names  # noqa: E402
from competition.predict.classify import LONG_RECORDINGS, LOUDEST  # noqa: E402
from competition.stages import SIDE_STAGE_NAMES, STAGE_NAMES  # noqa: E402
from competition.tasks import task_names  # noqa: E402

# the settings whose choices are the registries' names, which the settings' own floor cannot know
REGISTRY_CHOICES = {"task": task_names(), "engine": engine_names()}
KERNEL = Kaggle(KAGGLE_ROOT)  # for --help, which names a kernel's folders whether or not it runs in one


def default_output(args: argparse.Namespace, settings: Settings) -> Path:
    baseline = settings.baseline_model if args.stage == "baseline" else None  # never over the CNN's
    return default_submission(args.demo, settings.task, baseline, refit=args.stage == "refit")


def paths_from_args(args: argparse.Namespace, settings: Settings) -> Paths:
    """The folders and the submission the flags name, each flag left out at its default (a Kaggle kernel's own
    in a kernel)."""
    return Paths(input_dir=args.input_dir or default_input_dir(args.demo),
                 work_dir=args.work_dir or default_work_dir(args.demo),
                 output=args.output or default_output(args, settings), task=settings.task)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Kaggle TensorFlow Speech Recognition Challenge: from the competition archives to submission.csv.",
        allow_abbrev=False,  # --epoch 5 must not quietly mean --epochs 5
    )
    running = parser.add_argument_group("running the stages")
    running.add_argument("--stage", default="all", choices=("all", *STAGE_NAMES, *SIDE_STAGE_NAMES),
                         help="stage to run; 'all' runs every stage that is out of date, in order; "
                              f"{', '.join(SIDE_STAGE_NAMES)} run only when named (default: all)")
    running.add_argument("--from", dest="rerun_from", choices=STAGE_NAMES, default=None,
                         help="with --stage all: rerun this stage and every stage after it, even if up to date "
                              "(default: none)")
    running.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                         help="a recipe: settings keyed by their flags' names without the dashes (sample-rate = "
                              "8000); flags given on the command line win. Every finished run of the main stages "
                              "writes its own to recipe.toml in the task's folder of the work folder (default: none)")
    running.add_argument("--input-dir", type=Path, default=None,
                         help=f"folder with train.7z, test.7z and sample_submission.7z; when it lacks them, "
                              f"{KERNEL.input}/** is searched (default: {LOCAL_INPUT}/, or {LOCAL_INPUT / DEMO}/ "
                              f"with --demo; in a Kaggle kernel {KERNEL.input}/, or {KERNEL.temp / 'input' / DEMO}/)")
    running.add_argument("--work-dir", type=Path, default=None,
                         help=f"folder for intermediate artefacts, about 15 GB for the full competition (default: "
                              f"{LOCAL_WORK}/; in a Kaggle kernel {KERNEL.temp / 'work'}/, which is not saved: "
                              f"--work-dir {KERNEL.working / 'work'} keeps them in the kernel's output; "
                              f"a {DEMO}/ subfolder with --demo)")
    running.add_argument("--output", type=Path, default=None,
                         help=f"submission file to write (default: {LOCAL_SUBMISSIONS}/submission.csv, in a Kaggle "
                              f"kernel {KERNEL.working}/submission.csv, where Submit finds it; {DEMO}_submission.csv "
                              f"with --demo, <task>-submission.csv with another --task, submission-refit.csv with "
                              f"--stage refit)")
    running.add_argument("--demo", action="store_true",
                         help="generate a small synthetic competition in the input folder (when it holds no "
                              "archives) and run on it (default: off)")
    running.add_argument("--verbose", action="store_true", help="log debug messages too (default: off)")
    commands = parser.add_argument_group("commands instead of stages (with the model trained in --work-dir)")
    commands.add_argument("--classify", type=Path, nargs="+", default=None, metavar="PATH",
                          help="print the label and top-3 probabilities of each WAV (FLAC, OGG) file, and of "
                               "every one under each folder given (sorted, subfolders included) (default: none)")
    commands.add_argument("--classify-long", choices=LONG_RECORDINGS, default=LOUDEST,
                          help="with --classify: how a recording longer than one second is classified, by its "
                               "loudest second or by each second from the start (one line each); each line says "
                               f"which second it is (default: {LOUDEST})")
    commands.add_argument("--classify-csv", type=Path, default=None, metavar="FILE.csv",
                          help="with --classify: also write the results to this CSV "
                               "(path,duration_s,window,start_s,label,confidence,error), once all are done "
                               "(default: none)")
    commands.add_argument("--listen", default=None, metavar="PATH.wav|-",
                          help="slide the model over a recording of any length, rate and channel count, or over "
                               "16-bit mono PCM on standard input (-: raw at 16 kHz, or a WAV stream), and print each "
                               "command as it is found: time in seconds, label, confidence (default: none)")
    commands.add_argument("--detections", type=Path, default=None, metavar="FILE.csv",
                          help="with --listen: also write the detections to this CSV (time_s,label,confidence), "
                               "as FILE.csv.partial while listening, renamed to FILE.csv when the stream ends "
                               "(default: none)")
    commands.add_argument("--score", type=Path, default=None, metavar="SOLUTION.csv",
                          help="score --output against this solution file (fname,label[,Usage], the true labels; "
                               "never the submission itself) and print accuracy overall, per Usage and per class "
                               "(default: none)")
    add_setting_flags(parser, choices=REGISTRY_CHOICES)
    return parser.parse_args(argv)


def classify_files(paths: Paths, settings: Settings, given: list[Path], long_recordings: str,
                   table: Path | None) -> int:
    """Print one line per file (per second with every-second) as it is classified; a bad file is
    reported and the rest go on."""
    from competition.core.io import check_writable
    from competition.predict.classify import classify, recordings, write_csv

    files = recordings(given)
    if table:
        check_writable(table.parent, "the folder of --classify-csv")  # before the work, not after
    failed, results = 0, []
    for result in classify(paths, settings, files, long_recordings):
        print(result.line(), file=sys.stderr if result.error else sys.stdout, flush=True)
        failed += bool(result.error)
        results.append(result)
    if table:
        write_csv(table, results)
    if failed:
        print(f"error: {failed} of {len(files)} files could not be classified", file=sys.stderr)
    return 1 if failed else 0


def listen_to(paths: Paths, settings: Settings, source: str, detections: Path | None) -> int:
    """Print each detection as it is found (and write the CSV): a progress bar on a terminal for a
    file, none for standard input, whose audio arrives in real time and whose length is unknown."""
    import contextlib

    from tqdm import tqdm

    from competition.core.config import ListenConfig, project
    from competition.core.native_log import stderr_is_terminal
    from competition.streaming.listen import Listener, detections_csv

    listener = Listener(paths, project(ListenConfig, settings), source)
    with contextlib.ExitStack() as stack:
        write = stack.enter_context(detections_csv(detections, listener.threshold)) if detections else None
        progress = None
        if listener.source.seconds is not None:  # shown only when stderr is a terminal (behind the filter's pipe)
            progress = stack.enter_context(tqdm(total=round(listener.source.seconds, 1), unit="s",
                                                disable=not stderr_is_terminal(),
                                                desc=Path(source).name, bar_format=PROGRESS_FORMAT))
        for detection in listener.run(progress):
            if progress is not None and not progress.disable:
                tqdm.write(detection.line())  # above the bar, instead of through it
            else:
                print(detection.line(), flush=True)
            if write:
                write(detection)
    return 0


PROGRESS_FORMAT = "{l_bar}{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}]"


def model_features(model: str, features: str | None) -> str:
    """Check --model and --features together; the model's own features when none are named."""
    from competition.models import check_features, default_features, model_names  # imports TensorFlow

    if model not in model_names():
        raise PipelineError(f"--model {model!r} is not in the registry; expected one of {', '.join(model_names())}")
    features = features or default_features(model)
    check_features(model, features)
    return features


def chosen_features(args: argparse.Namespace, recipe: dict) -> str | None:
    """--features, else the recipe's when its model is the one that runs (another model named on the
    command line reads its own); checked against the model for a run of the main stages."""
    features = args.features or (recipe.get("features") if args.model in (None, recipe.get("model")) else None)
    if args.stage in SIDE_STAGE_NAMES or args.score or args.classify or args.listen:
        return features
    return model_features(args.model or recipe.get("model") or DEFAULTS.model, features)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    log = logging.getLogger("run")
    if not args.verbose:  # TensorFlow's own INFO records (how a strategy set itself up) are not the pipeline's
        logging.getLogger("tensorflow").setLevel(logging.WARNING)
    if args.rerun_from and args.stage != "all":
        print(f"error: --from {args.rerun_from} only applies to --stage all", file=sys.stderr)
        return 2
    if args.detections and not args.listen:
        print("error: --detections only applies to --listen", file=sys.stderr)
        return 2
    if (args.classify_csv or args.classify_long != LOUDEST) and not args.classify:
        print("error: --classify-csv and --classify-long only apply to --classify", file=sys.stderr)
        return 2
    if sum(map(bool, (args.listen, args.classify, args.score))) > 1:
        print("error: --listen, --classify and --score are separate commands: give one", file=sys.stderr)
        return 2
    try:
        recipe = read_recipe(args.config, REGISTRY_CHOICES) if args.config else {}
        features = chosen_features(args, recipe)
        settings = settings_from_args(args, demo=args.demo, recipe=recipe,
                                      **({"features": features} if features else {}))
        paths = paths_from_args(args, settings)
        if args.score:
            from competition.analysis.scoring import format_report, score

            print(format_report(score(paths.output, args.score)))
            return 0
        if args.classify:
            return classify_files(paths, settings, args.classify, args.classify_long, args.classify_csv)
        if args.listen:
            return listen_to(paths, settings, args.listen, args.detections)
        from competition import stages
        from competition.core.flags import write_recipe
        from competition.core.lock import work_folder_lock

        with work_folder_lock(paths.work_dir):  # before anything is written, the demo's archives included
            if args.demo:
                from competition.data.archives import ARCHIVES
                from competition.data.demo import make_demo_competition

                if not all((paths.input_dir / name).is_file() for name in ARCHIVES):
                    make_demo_competition(paths.input_dir, seed=settings.seed)
                else:
                    log.info("using the demo competition already in %s", paths.input_dir)
            stages.run(args.stage, paths, settings, rerun_from=args.rerun_from)
            if args.stage not in SIDE_STAGE_NAMES:  # a side stage shapes nothing the main chain reads
                write_recipe(paths.recipe, settings)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    from competition.core.native_log import filtered_stderr

    with filtered_stderr(enabled="--verbose" not in sys.argv[1:]):  # --verbose shows TensorFlow's every line
        try:
            code = main()
            sys.stdout.flush()  # here, where a closed pipe can still be told from a failure
        except BrokenPipeError:
            # the reader went away (`--score ... | head`): not an error of ours; the shell's code for it
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 128 + signal.SIGPIPE
    sys.exit(code)
