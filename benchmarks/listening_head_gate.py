"""Experiment: the listening head's gate radius, compared on the validation streams and read on held-out ones.

For a finished run, each window of the streams is scored once (the softmax, the head's discriminants and
the squared distances to each class's mean), and the recogniser is replayed with the head's command
odds, zeroed beyond the squared distance within which a share (--quantiles) of the training command
clips lie from their own command's mean ("none": no gate). The threshold is the lowest that keeps the
validation streams to at most 4 false accepts an hour; the held-out streams are only read at it.

    python benchmarks/listening_head_gate.py --work-dir W --negatives words.wav talk.wav noise.wav \\
        --commands val1.wav val2.wav --held-out synth.wav test10.wav test11.wav --quantiles none 1 0.999 0.99
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

THRESHOLDS = sorted({*np.round(np.linspace(0.5, 0.99, 50), 4), *(1 - 10.0 ** -np.arange(2, 6.01, 0.1))})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--negatives", type=Path, nargs="+", required=True)
    parser.add_argument("--commands", type=Path, nargs="+", required=True)
    parser.add_argument("--held-out", type=Path, nargs="+", required=True)
    parser.add_argument("--quantiles", nargs="+", default=["none", "0.999"])
    args = parser.parse_args()
    streams = __import__("streams")
    from competition.core.config import ListenConfig, Settings, TrainConfig, project
    from competition.device.operating_point import resolve
    from competition.frontend.spectral import clip_features
    from competition.inference.config import InferenceConfig
    from competition.inference.engines import get_engine
    from competition.models.open_set import TEMPERATURE, fit_head, squared_distances
    from competition.streaming.operating import ScoredStream, lowest_threshold, operating_points
    from competition.train.data import load_split

    paths = streams._paths(args.work_dir)
    inference = InferenceConfig.load(paths.inference_config)
    labels = paths.labels_file.read_text().split()
    member = get_engine("keras").load(paths, inference)[0]
    weights, bias = (w.numpy() for w in member.model.layers[-1].weights)
    is_command = np.array([label not in ("silence", "unknown") for label in labels])
    unknown = labels.index("unknown")
    features, classes = load_split(paths, project(TrainConfig, Settings()), "train", labels, in_memory=False)
    readable = classes >= 0
    embeddings, classes = member.embed(features)[readable], classes[readable]
    head = fit_head(embeddings, classes, len(labels), is_command)
    own = squared_distances(embeddings, head)[np.arange(len(classes)), classes][is_command[classes]]
    listen, _ = resolve(project(ListenConfig, Settings()), paths.operating_points)

    def scored(path: Path):
        times, softmax, discriminants, distances = [], [], [], []
        for ends, windows in streams.stream_windows(path, inference.audio, listen.listen_hop_ms):
            x = clip_features(np.asarray(windows, np.float32), inference.audio, "logspec")
            embedding = member.embed(x.astype(inference.feature_dtype).astype(np.float32)).astype(np.float64)
            logits = embedding @ weights + bias
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            times.append(ends)
            softmax.append(p / p.sum(axis=1, keepdims=True))
            discriminants.append(embedding @ head.weights + head.offsets)
            distances.append(squared_distances(embedding, head))
        marks = streams.window_marks(path, inference.audio, listen.listen_hop_ms, listen.listen_pause_ms)
        return path, *map(np.concatenate, (times, softmax, discriminants, distances)), marks

    validation = [scored(path) for path in [*args.negatives, *args.commands]]
    held_out = [scored(path) for path in args.held_out]
    commands = list(np.array(labels)[is_command])
    for quantile in args.quantiles:
        radius = np.inf if quantile == "none" else float(np.quantile(own, float(quantile)))

        def replayed(items, radius=radius):
            result = []
            for path, times, p, g, d, marks in items:
                scores = p.copy()
                odds = 1 / (1 + np.exp(-np.clip((g - g[:, [unknown]]) / TEMPERATURE, -50, 50)))
                scores[:, is_command] = (odds * (d <= radius))[:, is_command]
                result.append(ScoredStream(path.stem, times, scores, streams.stream_labels(path),
                                           streams._seconds(path, None), marks))
            return result

        points = operating_points(replayed(validation), labels, commands, listen, THRESHOLDS)
        threshold = lowest_threshold(points, 4)
        row = points[points["threshold"] == threshold].iloc[0]
        held = operating_points(replayed(held_out), labels, commands, listen, [threshold]).iloc[0]
        rates = ", ".join(f"{key.split('.', 1)[1]} {value:.0f}" for key, value in held.items()
                          if key.startswith("false_accepts_per_hour."))
        print(f"{args.work_dir.name} gate {quantile}: validation, at most 4 an hour: threshold {threshold:.6g}, "
              f"missed {row.missed:.1%}, wrong {row.wrong:.1%} | held out at it: false accepts an hour {rates}; "
              f"commands found {held.correct:.1%}, wrong {held.wrong:.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
