"""Second looks at the listening head on finished runs, none of which retrains the network.

    python benchmarks/listening_head_posthoc.py --runs working/seed-42 working/seed-43 working/seed-44 \
        --solution solution.csv --out working/posthoc-head

Every listening figure is the operating stage's: each run's own validation streams (its seed), the
listener's defaults, commands missed at the lowest threshold that keeps to 4 and to 20 false accepts
an hour. The head is refitted with numpy exactly as the train stage fits it, then varied:

- clip: the head's odds as the clip decision (a command whose odds against unknown are below even, or
  beyond the gate, becomes unknown): validation balanced accuracy and unknown recall; the solution file
  is only scored;
- rivals: means of the training speakers' stream windows (their other words and talk) that the head
  fires on, as rivals of unknown in each command's ratio: one mean, one per command, 4 or 16 k-means;
- fit: the head fitted on the training clips under the training's own augmentation, with or without
  the clean clips;
- recogniser: the averaging span and the wait for a peak again, averaging probabilities or log-odds;
- ensemble: the first run's streams scored by every run's listening model, the scores averaged.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from competition.core.native_log import filtered_stderr  # noqa: E402

QUIET = contextlib.ExitStack()
if __name__ == "__main__":
    QUIET.enter_context(filtered_stderr())

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from competition.core.config import ListenConfig, OperatingConfig, Settings, TrainConfig, cached_representation, project  # noqa: E402
from competition.core.labels import BACKGROUND_NOISE_DIR  # noqa: E402
from competition.core.metrics import balanced_accuracy  # noqa: E402
from competition.core.paths import Paths  # noqa: E402
from competition.device.operating_point import RECOGNISER  # noqa: E402
from competition.device.recognizer import Windows, whole_words  # noqa: E402
from competition.frontend.spectral import clip_features  # noqa: E402
from competition.inference.ensemble import predict_probabilities  # noqa: E402
from competition.inference.predictor import Predictor  # noqa: E402
from competition.models.open_set import TEMPERATURE, Head, fit_head, squared_distances  # noqa: E402
from competition.streaming import stage as operating_stage  # noqa: E402
from competition.streaming.build import RATE, negative_stream  # noqa: E402
from competition.streaming.operating import THRESHOLDS, ScoredStream, lowest_threshold, operating_points  # noqa: E402
from competition.train.data import cached_split, load_split  # noqa: E402

TARGETS = (4, 20)


@dataclasses.dataclass
class Run:
    seed: int
    paths: Paths
    predictor: Predictor  # the plain members: softmax and embedding
    head: Head
    train: tuple[np.ndarray, np.ndarray]  # training features and class numbers (readable clips)

    @property
    def labels(self) -> list[str]:
        return self.predictor.labels

    @property
    def commands(self) -> np.ndarray:
        task = self.predictor.task
        return np.array([label not in (task.silence_label, task.unknown_label) for label in self.labels])

    @property
    def unknown(self) -> int:
        return self.labels.index(self.predictor.task.unknown_label)

    @property
    def operating(self) -> OperatingConfig:
        return project(OperatingConfig, Settings(seed=self.seed))

    def embed_and_score(self, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, softmax) of 16 kHz clips, as --listen reads them."""
        config = self.predictor.config
        x = clip_features(np.asarray(clips, np.float32), config.audio, cached_representation(config.features))
        x = x.astype(config.feature_dtype).astype(np.float32)
        member = self.predictor.members[0]
        return member.embed(x), predict_probabilities(self.predictor.members, x, (0,), len(self.labels))

    def scores(self, embeddings: np.ndarray, softmax: np.ndarray, head: Head | None = None,
               rivals: np.ndarray | None = None) -> np.ndarray:
        """The listening scores (models.open_set's layer in numpy), with optional rival means."""
        head = head or self.head
        g = embeddings @ head.weights + head.offsets
        rival = g[:, [self.unknown]]
        if rivals is not None:
            rival_g = embeddings @ (head.precision @ rivals.T) - 0.5 * np.einsum("kd,de,ke->k", rivals,
                                                                                 head.precision, rivals)
            rival = np.maximum(rival, rival_g.max(axis=1, keepdims=True))
        odds = 1 / (1 + np.exp(-(g - rival) / TEMPERATURE)) * (squared_distances(embeddings, head) <= head.radius)
        return np.where(self.commands[None, :], odds, softmax)


def load_run(work_dir: Path) -> Run:
    paths = Paths(input_dir=Path("."), work_dir=work_dir, output=work_dir / "unused.csv")
    seed = json.loads(paths.manifest("train").read_text())["config"]["seed"]
    predictor = Predictor.load(paths, "keras")
    config = project(TrainConfig, Settings(seed=seed))
    x, y = load_split(paths, config, "train", predictor.labels)
    run = Run(seed, paths, predictor, None, (np.asarray(x, np.float32), y))
    run.head = fit_head(predictor.members[0].embed(run.train[0]), y, len(run.labels), run.commands)
    return run


def windows(run: Run, samples: np.ndarray, scorers: list[Run]) -> tuple:
    """Each window's end, whole-word mark, and (embeddings, softmax) under every run of `scorers`."""
    hop = round(run.operating.listen_hop_ms * RATE / 1000)
    found = Windows(run.predictor.config.audio.clip_samples, hop)
    ends, whole, outputs = [], [], [[] for _ in scorers]
    for at in range(0, len(samples), 2 * RATE):
        block_ends, clips = found.push(samples[at:at + 2 * RATE])
        if len(block_ends):
            ends.append(block_ends / RATE)
            whole.append(whole_words(clips, RATE, run.operating.listen_pause_ms))
            for number, scorer in enumerate(scorers):
                outputs[number].append(scorer.embed_and_score(clips))
    return (np.concatenate(ends), np.concatenate(whole),
            [tuple(np.concatenate(part) for part in zip(*output)) for output in outputs])


def stream_windows(run: Run, scorers: list[Run]) -> list[tuple]:
    """(name, ends, whole, [(embeddings, softmax) per scorer], labels, seconds) of the run's operating streams."""
    return [(name, *windows(run, samples, scorers), labels, len(samples) / RATE)
            for name, samples, labels in operating_stage._streams(run.paths, run.operating)]


def missed(run: Run, streams: list[tuple], score, listen: ListenConfig | None = None,
           transform=None) -> dict:
    """Commands missed and wrongly named at each target; `score(embeddings, softmax, scorer_number)`."""
    listen = listen or ListenConfig(engine="keras", listen_threshold=None,
                                    **{name: getattr(run.operating, name) for name in RECOGNISER})
    scored = [ScoredStream(name, ends, score(outputs), labels, seconds, whole)
              for name, ends, whole, outputs, labels, seconds in streams]
    thresholds = THRESHOLDS
    if transform is not None:
        scored = [dataclasses.replace(s, scores=transform(s.scores)) for s in scored]
        thresholds = tuple(float(transform(np.array(t))) for t in THRESHOLDS)
    commands = [label for label, is_command in zip(run.labels, run.commands) if is_command]
    points = operating_points(scored, run.labels, commands, listen, thresholds)
    row = {}
    for target in TARGETS:
        threshold = lowest_threshold(points, target)
        chosen = points[points["threshold"] == threshold].iloc[0] if threshold is not None else None
        row[f"missed at {target}"] = np.nan if chosen is None else chosen["missed"]
        row[f"wrong at {target}"] = np.nan if chosen is None else chosen["wrong"]
    return row


def clip_decisions(run: Run, solution: Path | None) -> list[dict]:
    config = project(TrainConfig, Settings(seed=run.seed))
    predictor = run.predictor
    unknown = run.unknown
    sets = {"validation": load_split(run.paths, config, "validation", run.labels)}
    if solution is not None:
        features, table = cached_split(run.paths, config, "test")
        public = pd.read_csv(solution)
        rows = table.reset_index(drop=True).reset_index().set_index("fname").loc[public["fname"], "index"].to_numpy()
        sets["public"] = (np.asarray(features)[rows], public["label"].map(run.labels.index).to_numpy())
    out = []
    for split, (x, y) in sets.items():
        x = np.asarray(x, np.float32)
        decided = predictor.task.decide(predictor.probabilities(x), predictor.config.unknown_threshold, run.labels)
        embeddings = predictor.members[0].embed(x)
        g = embeddings @ run.head.weights + run.head.offsets
        n = np.arange(len(y))
        is_command = run.commands[decided]
        below_even = g[n, decided] < g[n, unknown]
        beyond = squared_distances(embeddings, run.head)[n, decided] > run.head.radius
        rules = {"softmax (the default)": decided,
                 "odds below even: unknown": np.where(is_command & below_even, unknown, decided),
                 "beyond the gate: unknown": np.where(is_command & beyond, unknown, decided),
                 "either: unknown": np.where(is_command & (below_even | beyond), unknown, decided)}
        for rule, predicted in rules.items():
            out.append({"seed": run.seed, "split": split, "rule": rule,
                        "balanced": balanced_accuracy(y, predicted, len(run.labels)),
                        "accuracy": float((predicted == y).mean()),
                        "unknown recall": float((predicted[y == unknown] == unknown).mean())})
    return out


def rival_means(run: Run, minutes: float) -> dict[str, np.ndarray]:
    """Means of the training speakers' whole-word windows the head fires on (above 0.5)."""
    noise = run.paths.train_audio_dir / BACKGROUND_NOISE_DIR
    embeddings, softmaxes = [], []
    for offset, kind in enumerate(("words", "talk")):
        samples, _ = negative_stream(kind, run.paths.index_csv, run.paths.extract_dir, "train", minutes / 2,
                                     9000 + run.seed + offset, noise_folder=noise)
        _, whole, ((e, p),) = windows(run, samples, [run])
        embeddings.append(e[whole]), softmaxes.append(p[whole])
    embeddings, softmax = np.concatenate(embeddings), np.concatenate(softmaxes)
    command_scores = run.scores(embeddings, softmax)[:, run.commands]
    fires = command_scores.max(axis=1) > 0.5
    top = command_scores.argmax(axis=1)
    print(f"seed {run.seed}: {len(embeddings)} whole-word training windows, the head fires on {fires.sum()}",
          flush=True)
    from sklearn.cluster import KMeans

    means = {"one mean": embeddings[fires].mean(axis=0, keepdims=True),
             "one per command": np.stack([embeddings[fires & (top == c)].mean(axis=0) for c in np.unique(top[fires])
                                          if (fires & (top == c)).sum() >= 5])}
    for k in (4, 16):
        means[f"{k} k-means"] = KMeans(k, n_init=4, random_state=0).fit(embeddings[fires]).cluster_centers_
    return means


def augmented_embeddings(run: Run, copy: int) -> np.ndarray:
    import tensorflow as tf

    from competition.train.augmentation import augment_batch

    config = project(TrainConfig, Settings(seed=run.seed))
    noise = np.load(run.paths.feature_cache("noise")).astype(np.float32)
    noise = tf.constant(noise) if len(noise) else None
    x = run.train[0]
    parts = []
    for start in range(0, len(x), 512):
        seed = tf.constant([run.seed * 7919 + copy, start], tf.int64)
        batch = augment_batch(tf.constant(x[start:start + 512]), noise, config.augmentation, seed,
                              config.audio.step_samples, config.spec_masks)
        parts.append(run.predictor.members[0].embed(batch.numpy()))
    return np.concatenate(parts)


def log_odds_scale(scores: np.ndarray, span: float = 25.0) -> np.ndarray:
    """Log-odds, mapped linearly onto [0, 1] (monotone, so a threshold maps with them)."""
    p = np.clip(scores, 1e-12, 1 - 1e-12)
    return np.clip((np.log(p) - np.log1p(-p) + span) / (2 * span), 0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="finished runs' work folders")
    parser.add_argument("--solution", type=Path, help="labels of some test clips, only scored (default: none)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables (CSV)")
    parser.add_argument("--rival-minutes", type=float, default=16.0,
                        help="minutes of the training speakers' words and talk the rivals come from (default 16)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [load_run(path) for path in args.runs]
    clip_rows, listen_rows = [], []
    for run in runs:
        print(f"seed {run.seed}: scoring its operating streams", flush=True)
        streams = stream_windows(run, [run])
        clip_rows += clip_decisions(run, args.solution)

        def add(experiment: str, variant: str, row: dict, seed: int = run.seed) -> None:
            listen_rows.append({"seed": seed, "experiment": experiment, "variant": variant, **row})
            print(listen_rows[-1], flush=True)

        add("head", "as trained", missed(run, streams, lambda o, r=run: r.scores(*o[0])))
        for name, means in rival_means(run, args.rival_minutes).items():
            add("rivals", name, missed(run, streams, lambda o, r=run, m=means: r.scores(*o[0], rivals=m)))
        clean, labels = run.predictor.members[0].embed(run.train[0]), run.train[1]
        augmented = [augmented_embeddings(run, copy) for copy in range(3)]
        fits = {"clean and one augmented copy": ([clean, augmented[0]], 2),
                "clean and three augmented copies": ([clean, *augmented], 4),
                "three augmented copies": (augmented, 3)}
        for name, (parts, copies) in fits.items():
            head = fit_head(np.concatenate(parts), np.concatenate([labels] * copies), len(run.labels), run.commands)
            add("fit", name, missed(run, streams, lambda o, r=run, h=head: r.scores(*o[0], head=h)))
        base = ListenConfig(engine="keras", listen_threshold=None,
                            **{name: getattr(run.operating, name) for name in RECOGNISER})
        for log_odds, average, peak in itertools.product((False, True), (200, 400, 600, 800), (0, 400)):
            listen = dataclasses.replace(base, listen_average_ms=average, listen_peak_ms=peak)
            add("recogniser", f"{'log-odds' if log_odds else 'probability'}, average {average} ms, peak {peak} ms",
                missed(run, streams, lambda o, r=run: r.scores(*o[0]), listen, log_odds_scale if log_odds else None))
    if len(runs) > 1:
        first = runs[0]
        print(f"seed {first.seed}'s streams scored by every run", flush=True)
        streams = stream_windows(first, runs)
        for size in range(1, len(runs) + 1):
            for combo in itertools.combinations(range(len(runs)), size):
                row = missed(first, streams, lambda o, c=combo: np.mean([runs[i].scores(*o[i]) for i in c], axis=0))
                listen_rows.append({"seed": first.seed, "experiment": "ensemble",
                                    "variant": " + ".join(str(runs[i].seed) for i in combo), **row})
                print(listen_rows[-1], flush=True)
    pd.DataFrame(clip_rows).to_csv(args.out / "clip.csv", index=False, float_format="%.4f")
    listening = pd.DataFrame(listen_rows)
    listening.to_csv(args.out / "listening.csv", index=False, float_format="%.4f")
    table = listening[listening["experiment"] != "ensemble"].pivot_table(
        index=["experiment", "variant"], columns="seed", values=[f"missed at {t}" for t in TARGETS], sort=False)
    print((100 * table).round(1).to_string())
    print(pd.DataFrame(clip_rows).pivot_table(index=["split", "rule"], columns="seed",
                                              values=["balanced", "unknown recall"], sort=False).round(4).to_string())


if __name__ == "__main__":
    try:
        main()
    finally:
        QUIET.close()
