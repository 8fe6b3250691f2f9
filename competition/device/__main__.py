"""python -m competition.device: run the folder `--stage export` wrote, with numpy and LiteRT alone.

    python -m competition.device classify FOLDER a.wav [b.wav ...]
    python -m competition.device listen FOLDER rec.wav|- [--rate 16000] [--detections out.csv]
        [--false-accepts-per-hour N]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from pathlib import Path

import numpy as np

from .. import PipelineError
from .classify import LONG_RECORDINGS, LOUDEST, classify_each
from .folder import POINTS_FILE, ExportInfo, open_folder
from .listening import Listening, detections_csv
from .model import TFLiteMember, decide, mean_probabilities
from .operating_point import resolve
from .resample import resample
from .sources import STDIN, Source, read_wav, stdin_source, wav_source

log = logging.getLogger(__name__)

MODELS = {"int8": "tflite-int8", "float": "tflite"}


class Exported:
    """The folder's model, ready to answer as the pipeline's TFLite engine does."""

    def __init__(self, folder: Path, model: str = "int8", listening: bool = False) -> None:
        """`listening`: the file with the listening head, whose command scores the listener thresholds."""
        self.folder = Path(folder)
        self.info: ExportInfo = open_folder(self.folder)
        self.engine = MODELS[model]
        self.member = TFLiteMember(self.folder / self.info.files[self.info.file_key(self.engine, listening)])

    def probabilities(self, clips: np.ndarray, shifts: tuple[int, ...] | None = None) -> np.ndarray:
        """(n, clip_samples) clips at the model's rate -> (n, classes), averaged over the test-time shifts."""
        shifts = self.info.tta_shifts if shifts is None else shifts
        return mean_probabilities([self.member], np.asarray(clips, np.float32), shifts)

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        info = self.info
        return np.array(info.labels)[decide(probabilities, info.unknown_threshold, info.labels, info.unknown_label)]

    def load(self, path: Path) -> np.ndarray:
        """A whole WAV file at the model's rate."""
        rate, samples = read_wav(path)
        if rate != self.info.sample_rate:
            samples = resample(samples, rate, self.info.sample_rate)
        return samples.astype(np.float32, copy=False)


def classify(args: argparse.Namespace) -> int:
    model = Exported(args.folder, args.model)
    failed = 0
    for result in classify_each(args.files, model.load, model.probabilities, model.decide, model.info.labels,
                                model.info.clip_samples, model.info.sample_rate, args.long):
        print(result.line(), file=sys.stderr if result.error else sys.stdout, flush=True)
        failed += bool(result.error)
    if failed:
        print(f"error: {failed} of {len(args.files)} files could not be classified", file=sys.stderr)
    return 1 if failed else 0


def listen(args: argparse.Namespace) -> int:
    live = args.source == STDIN
    if args.rate is not None and not live:
        raise PipelineError(f"--rate applies to standard input (-); {args.source} is a WAV file, whose header "
                            "gives its rate")
    source: Source = stdin_source(rate=args.rate) if live else wav_source(Path(args.source))
    model = Exported(args.folder, args.model, listening=True)
    info = model.info
    if info.silence_label is None or info.unknown_label is None:
        raise PipelineError(f"{args.folder}: a model without silence and unknown classes; listening needs them, so "
                            "that background and other words are not taken for a command")
    config = info.listen_config(model.engine)
    if args.false_accepts_per_hour is not None:  # another operating point than the export's
        config, operating_point = resolve(dataclasses.replace(config, listen_threshold=None,
                                                              false_accepts_per_hour=args.false_accepts_per_hour),
                                          Path(args.folder) / POINTS_FILE)
    else:
        operating_point = f"threshold {config.listen_threshold:g}, the export's (--false-accepts-per-hour " \
                          f"{config.false_accepts_per_hour:g})"
    log.info("operating point: %s", operating_point)
    listening = Listening(source, live, lambda windows: model.probabilities(windows, shifts=(0,)), info.sample_rate,
                          info.clip_samples, info.labels, info.commands, config)
    with contextlib.ExitStack() as stack:
        write = stack.enter_context(detections_csv(args.detections, listening.threshold)) if args.detections else None
        for detection in listening.run():
            print(detection.line(), flush=True)
            if write:
                write(detection)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m competition.device", allow_abbrev=False,
                                     description="Run an exported folder (--stage export) with numpy and LiteRT.")
    parser.add_argument("--verbose", action="store_true", help="log debug messages too (default: off)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("classify", "print the label and the three most probable classes of each WAV file"),
                       ("listen", "print each command heard in a recording or on standard input: time in seconds, "
                                  "label, averaged score")):
        command = commands.add_parser(name, help=text, description=text, allow_abbrev=False)
        command.add_argument("folder", type=Path, help="the folder --stage export wrote, copied whole")
        # listening defaults to float: the operating point was chosen on the trained model's scores, which
        # the float file gives to 1e-3, and the int8 file's drift multiplies the false accepts
        default = {"classify": "int8", "listen": "float, whose scores the listener's threshold was chosen on; "
                                                 "int8 reports several times more commands nobody said"}[name]
        command.add_argument("--model", choices=tuple(MODELS), default=default.split(",")[0],
                             help=f"which of the folder's models runs (default: {default})")
        if name == "classify":
            command.add_argument("files", type=Path, nargs="+", metavar="FILE.wav", help="16-bit PCM WAV files")
            command.add_argument("--long", choices=LONG_RECORDINGS, default=LOUDEST,
                                 help="a recording longer than one second: its loudest second, or each second "
                                      f"from the start; each line says which (default: {LOUDEST})")
        else:
            command.add_argument("source", metavar="FILE.wav|-",
                                 help="a 16-bit PCM WAV recording, or - for standard input: raw 16-bit "
                                      "little-endian mono PCM, or a WAV stream (its header gives rate and channels)")
            command.add_argument("--rate", type=int, default=None,
                                 help="standard input's sample rate in Hz, resampled to the model's "
                                      "(default: 16000, or a WAV stream's own)")
            command.add_argument("--detections", type=Path, default=None, metavar="FILE.csv",
                                 help="also write the detections to this CSV (time_s,label,confidence,threshold), "
                                      "as FILE.csv.partial until the stream ends (default: none)")
            command.add_argument("--false-accepts-per-hour", type=float, default=None, metavar="N",
                                 help="listen at the lowest threshold that kept to N false accepts an hour on the "
                                      "validation speakers' negative streams (the folder's operating_points.csv); "
                                      "default: the threshold the export chose")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        if getattr(args, "rate", None) is not None and args.rate <= 0:
            raise PipelineError(f"--rate {args.rate}: expected a positive sample rate in Hz")
        return classify(args) if args.command == "classify" else listen(args)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
