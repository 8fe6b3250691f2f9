"""Experiment: how the listening head's command score is made, compared on the validation streams.

For a finished run, each window of the given streams is scored once (the softmax and the embedding the
softmax reads), and the recogniser is replayed with the command columns replaced by:
  softmax   the model's probabilities (no head)
  relT      the logistic of the head's log-likelihood ratio against unknown, divided by T
  bothT     the same with the softmax's own log-odds against unknown added before the logistic
The lowest threshold that keeps every negative stream together to at most 4 and 20 false accepts an hour
is found, and the commands missed there printed.

    python benchmarks/listening_head_variants.py --work-dir W --negatives words.wav talk.wav noise.wav \\
        --commands val1.wav val2.wav --variants softmax rel1 rel5 rel10 rel20 both5 both10
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
    parser.add_argument("--variants", nargs="+", default=["softmax", "rel5"])
    args = parser.parse_args()
    streams_module = __import__("streams")
    from competition.core.config import ListenConfig, Settings, TrainConfig, project
    from competition.device.operating_point import resolve
    from competition.frontend.spectral import clip_features
    from competition.inference.config import InferenceConfig
    from competition.inference.engines import get_engine
    from competition.models.open_set import fit_discriminants
    from competition.streaming.operating import ScoredStream, lowest_threshold, operating_points
    from competition.train.data import load_split

    paths = streams_module._paths(args.work_dir)
    inference = InferenceConfig.load(paths.inference_config)
    labels = paths.labels_file.read_text().split()
    member = get_engine("keras").load(paths, inference)[0]
    dense = member.model.layers[-1]
    weights, bias = (w.numpy() for w in dense.weights)
    config = project(TrainConfig, Settings())
    features, classes = load_split(paths, config, "train", labels, in_memory=False)
    readable = classes >= 0
    a, c = fit_discriminants(member.embed(features)[readable], classes[readable], len(labels))
    listen, _ = resolve(project(ListenConfig, Settings()), paths.operating_points)
    unknown = labels.index("unknown")
    is_command = np.array([label not in ("silence", "unknown") for label in labels])
    scored = []
    for path in [*args.negatives, *args.commands]:
        times, softmax, discriminants = [], [], []
        for ends, windows in streams_module.stream_windows(path, inference.audio, listen.listen_hop_ms):
            x = clip_features(np.asarray(windows, np.float32), inference.audio, "logspec")
            embedding = member.embed(x.astype(inference.feature_dtype).astype(np.float32))
            logits = embedding @ weights + bias
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            times.append(ends)
            softmax.append(p / p.sum(axis=1, keepdims=True))
            discriminants.append(embedding @ a + c)
        marks = streams_module.window_marks(path, inference.audio, listen.listen_hop_ms, listen.listen_pause_ms)
        scored.append((path, np.concatenate(times), np.concatenate(softmax), np.concatenate(discriminants), marks))
    for variant in args.variants:
        streams = []
        for path, times, p, g, marks in scored:
            scores = p.copy()
            if variant != "softmax":
                temperature = float(variant.lstrip("relboth"))
                odds = g - g[:, [unknown]]
                if variant.startswith("both"):
                    odds = odds + np.log(np.maximum(p, 1e-30)) - np.log(np.maximum(p[:, [unknown]], 1e-30))
                scores[:, is_command] = 1 / (1 + np.exp(-np.clip(odds[:, is_command] / temperature, -50, 50)))
            streams.append(ScoredStream(path.stem, times, scores, streams_module.stream_labels(path),
                                        streams_module._seconds(path, None), marks))
        points = operating_points(streams, labels, list(np.array(labels)[is_command]), listen, THRESHOLDS)
        cells = []
        for target in (4, 20):
            threshold = lowest_threshold(points, target)
            row = points[points["threshold"] == threshold].iloc[0] if threshold is not None else None
            cells.append(f"<= {target}/h: none" if row is None else
                         f"<= {target}/h: threshold {threshold:.6g}, missed {row.missed:.1%}, wrong {row.wrong:.1%}")
        print(f"{args.work_dir.name} {variant}: " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
