"""Size, accuracy and one-clip latency of each engine: the trained Keras model and its exports.

    python run.py --stage export --input-dir input/      # once, after training
    python benchmarks/engines.py --work-dir working --solution solution.csv

Accuracy goes through the same Predictor as predict (test-time shifts, the calibrated unknown
threshold), on the held-out-speaker validation clips and on the test clips the solution file
labels; each engine reads audio as it would on a device (the Keras row through the numpy front
end). Latency: one clip, one forward pass (no shifts), one thread, after a warm-up; median and
95th percentile over every validation clip (at least --clips). The solution file is only scored.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from competition.core.metrics import balanced_accuracy  # noqa: E402
from competition.core.paths import Paths  # noqa: E402
from competition.data.features import ClipRows, table_sources  # noqa: E402
from competition.inference.predictor import Predictor  # noqa: E402

ENGINES = ("keras", "tflite", "tflite-int8")
WARM_UP = 50


def engine_bytes(paths: Paths, predictor: Predictor, engine: str) -> int:
    if engine == "keras":
        return sum((paths.model_dir / name).stat().st_size for name in predictor.config.members)
    return paths.exported_model(engine.endswith("int8")).stat().st_size


def latency_ms(predictor: Predictor, clips: np.ndarray) -> np.ndarray:
    """Seconds per clip for one forward pass, as a device answers one command."""
    times = []
    for clip in np.concatenate([clips[:WARM_UP], clips]):
        start = time.perf_counter()
        predictor.probabilities_of_clips(clip[None], shifts=(0,), batch_size=1)
        times.append(time.perf_counter() - start)
    return np.array(times[WARM_UP:]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("working"), help="a trained and exported run "
                                                                               "(default: working)")
    parser.add_argument("--solution", type=Path, default=None,
                        help="fname,label file of test clips to score as well (default: none)")
    parser.add_argument("--clips", type=int, default=1000, help="clips timed, at least (default: 1000)")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES,
                        help=f"engines to measure (default: {' '.join(ENGINES)})")
    args = parser.parse_args()

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)  # one thread, as the TFLite members run
    tf.config.threading.set_inter_op_parallelism_threads(1)

    paths = Paths(input_dir=Path("."), work_dir=args.work_dir, output=args.work_dir / "unused.csv")
    validation = pd.read_csv(paths.feature_table("validation"), keep_default_na=False)
    validation = validation[validation["readable"].astype(bool)].reset_index(drop=True)
    first = Predictor.load(paths, args.engines[0])
    audio = first.config.audio
    x_val = ClipRows(table_sources(paths, validation), audio)[:]
    timed = np.resize(x_val, (max(args.clips, len(x_val)), audio.clip_samples))
    if args.solution:
        solution = pd.read_csv(args.solution, keep_default_na=False)
        x_test = ClipRows(table_sources(paths, pd.DataFrame({"path": "test/audio/" + solution["fname"]})), audio)[:]

    rows = []
    for engine in args.engines:
        predictor = first if engine == args.engines[0] else Predictor.load(paths, engine)
        labels = list(predictor.labels)
        index = {label: i for i, label in enumerate(labels)}
        predicted = predictor.decide(predictor.probabilities_of_clips(x_val))
        y_true = validation["label"].map(index).to_numpy()
        y_pred = np.array([index[label] for label in predicted])
        row = {"engine": engine, "bytes": engine_bytes(paths, predictor, engine),
               "validation": float((y_pred == y_true).mean()),
               "validation balanced": balanced_accuracy(y_true, y_pred, len(labels))}
        if args.solution:
            row["public"] = float((predictor.decide(predictor.probabilities_of_clips(x_test))
                                   == solution["label"].to_numpy()).mean())
        times = latency_ms(predictor, timed)
        row.update({"latency median ms": float(np.median(times)), "latency p95 ms": float(np.percentile(times, 95)),
                    "clips timed": len(times)})
        rows.append(row)
        print(f"{engine}: done", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))


if __name__ == "__main__":
    from competition.core.native_log import exit_filtered

    exit_filtered(main)  # without the C++ runtime's notices, as run.py
