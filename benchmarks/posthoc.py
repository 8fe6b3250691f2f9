"""What test-time augmentation and the unknown threshold add to a trained model.

    python benchmarks/posthoc.py --work-dir working --solution solution.csv \
        [--shifts=-5,0,5 --shifts=-6,-3,0,3,6]

For each variant: balanced and plain accuracy on held-out-speaker validation, and accuracy on
the solution file. The threshold is the one chosen on validation by the train stage (or 0); each
other set of test-time shifts (--shifts, in frames) gets the threshold the train stage would
choose on validation with it. The solution file is only scored, never used to choose anything.

    python benchmarks/posthoc.py --work-dir working/seed-42 --with-run working/other-42 [--with-run ...] \
        --solution solution.csv

--with-run averages the models of other finished runs (the same labels, features and clip sizes)
with this one's, on this run's validation and test features: what an ensemble of whole runs would
score. The runs must validate on the same recorded clips (the same held-out speakers), so that no
model has trained on a clip the average is validated on; the synthesised silence differs with the
seed, drawn from the same noise files as within one run.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# TensorFlow's C++ runtime prints its notices when it loads, at the imports below: the filter run.py
# uses goes up first, and comes down after main()
from competition.core.native_log import filtered_stderr  # noqa: E402

QUIET = contextlib.ExitStack()
if __name__ == "__main__":
    QUIET.enter_context(filtered_stderr())

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from competition import models  # noqa: E402,F401  registers the custom layers
from competition.core.labels import read_labels  # noqa: E402
from competition.core.metrics import balanced_accuracy  # noqa: E402
from competition.core.paths import Paths  # noqa: E402
from competition.data.prepare import CLIP  # noqa: E402
from competition.inference.config import InferenceConfig  # noqa: E402
from competition.inference.engines import get_engine  # noqa: E402
from competition.inference.ensemble import TTA_SHIFT_FRAMES, frames_as_rows, predict_probabilities  # noqa: E402
from competition.tasks import get_task  # noqa: E402


def shift_set(text: str) -> tuple[int, ...]:
    try:
        shifts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected frames separated by commas, such as -5,0,5; got {text!r}") from None
    return shifts


def _validation_words(paths: Paths) -> set[str]:
    """The recorded clips a run validates on (its synthesised silence is drawn afresh with the seed)."""
    table = pd.read_csv(paths.features_dir / "validation.csv", keep_default_na=False)
    return set(table.loc[table["kind"] == CLIP, "path"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("working"), help="a finished run (default: working)")
    parser.add_argument("--solution", type=Path, required=True,
                        help="fname,label file to score the test predictions on")
    parser.add_argument("--shifts", type=shift_set, action="append", default=[],
                        help="another set of test-time shifts to compare, in frames, comma-separated; repeat for "
                             "more sets; write --shifts=-5,0,5 (with =) when the first shift is negative "
                             "(default: none)")
    parser.add_argument("--with-run", type=Path, action="append", default=[],
                        help="another finished run whose models are averaged with this one's; repeat for more "
                             "(default: none)")
    args = parser.parse_args()
    paths = Paths(input_dir=Path("."), work_dir=args.work_dir, output=args.work_dir / "unused.csv")
    model_dir, features = paths.model_dir, paths.features_dir
    config = InferenceConfig.load(paths.inference_config)
    members = get_engine("keras").load(paths, config)
    labels = read_labels(paths.labels_file)
    validation_words = _validation_words(paths) if args.with_run else None
    for other_dir in args.with_run:
        other = Paths(input_dir=Path("."), work_dir=other_dir, output=other_dir / "unused.csv")
        other_config = InferenceConfig.load(other.inference_config)
        if read_labels(other.labels_file) != labels or (other_config.features, other_config.audio) != (
                config.features, config.audio):
            sys.exit(f"error: {other.model_dir} has other labels, features or clip sizes than {model_dir}; "
                     f"expected a run of the same task and features to average with it")
        if _validation_words(other) != validation_words:
            sys.exit(f"error: {other.features_dir} validates on other recorded clips than {features}; expected "
                     f"the same held-out speakers (the same split settings), so that no model has trained on "
                     f"the clips the average is validated on")
        members += get_engine("keras").load(other, other_config)
    calibrate_unknown = json.loads(paths.manifest("train").read_text())["config"]["calibrate_unknown"]
    task = get_task("commands")

    validation = pd.read_csv(features / "validation.csv", keep_default_na=False)
    keep = validation["readable"].to_numpy(bool)
    x_val = np.load(features / "validation.npy")[keep].astype(np.float32)
    y_val = validation.loc[keep, "label"].map({label: i for i, label in enumerate(labels)}).to_numpy()
    test = pd.read_csv(features / "test.csv", keep_default_na=False)
    solution = pd.read_csv(args.solution, keep_default_na=False)
    scored = test["fname"].isin(set(solution["fname"])).to_numpy()
    x_test = np.load(features / "test.npy", mmap_mode="r")[np.flatnonzero(scored)].astype(np.float32)
    truth = test.loc[scored, ["fname"]].merge(solution, on="fname")["label"].to_numpy()

    rows = []
    # an ensemble with other runs gets the threshold validation chooses for it, not this run's alone
    own_threshold = "recalibrated" if args.with_run else None
    variants = [("single pass", (0,), own_threshold),
                (f"TTA {list(TTA_SHIFT_FRAMES)}", TTA_SHIFT_FRAMES, own_threshold)]
    variants += [(f"TTA {list(frames)}", frames, "recalibrated") for frames in args.shifts]
    for name, frames, calibration in variants:
        shifts = frames_as_rows(frames, config.features, config.audio)  # a waveform shifts by samples
        p_val = predict_probabilities(members, x_val, shifts, len(labels))
        p_test = predict_probabilities(members, x_test, shifts, len(labels))
        if calibration is None:
            thresholds = {0.0: "none", config.unknown_threshold: "the train stage's"}
        else:
            thresholds = {task.calibrate(p_val, y_val, calibrate_unknown)[0]: "chosen on validation for these shifts"}
        for threshold, source in sorted(thresholds.items()):
            predicted_val = task.decide(p_val, threshold, labels)
            predicted_test = np.array(labels)[task.decide(p_test, threshold, labels)]
            rows.append({"test-time": name, "unknown threshold": threshold,
                         "validation balanced": round(balanced_accuracy(y_val, predicted_val, len(labels)), 4),
                         "validation plain": round(float((predicted_val == y_val).mean()), 4),
                         f"{args.solution.name}": round(float((predicted_test == truth).mean()), 4),
                         "threshold": source})
    sources = ", ".join(map(str, [model_dir, *args.with_run]))
    print(f"{len(members)} model(s) from {sources}; {len(y_val)} validation clips, {len(truth)} scored test clips")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    with QUIET:
        code = main()
    sys.exit(code)
