"""The listening head with `unknown` split into its training words, on finished runs, without retraining.

    python benchmarks/head_unknown_words.py --runs working/seed-42 working/seed-43 working/seed-44 --out OUT

The head (models.open_set) scores a command by its log-likelihood ratio against one Gaussian for all of
`unknown`, whose sixteen training words lie in different places of the embedding. Here the rival of each
command is the nearest of the unknown words' own Gaussians (or the pooled one, whichever is higher):
- "word means": the same head and covariance, each unknown word's mean of its training clips added as a rival;
- "words as classes": the head refitted with each unknown word as a class of its own (its covariance then
  shared by 27 classes), the rival the highest of the word classes; the gate from that fit.
Every figure is the operating stage's: each run's own validation streams, the listener's defaults, commands
missed at the lowest threshold that keeps to 4 and to 20 false accepts an hour.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from competition.core.native_log import filtered_stderr  # noqa: E402

QUIET = contextlib.ExitStack()
if __name__ == "__main__":
    QUIET.enter_context(filtered_stderr())

import listening_head_posthoc as base  # noqa: E402  (at commit 95b3a55: runs, streams, the operating replay)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from competition.data.features import read_feature_table  # noqa: E402
from competition.models.open_set import TEMPERATURE, fit_head, squared_distances  # noqa: E402


def training_words(run: base.Run) -> np.ndarray:
    table = read_feature_table(run.paths, "train")
    return table.loc[table["readable"].astype(bool), "word"].astype(str).to_numpy()


def word_means(run: base.Run, embeddings: np.ndarray, words: np.ndarray) -> np.ndarray:
    unknown = run.train[1] == run.unknown
    return np.stack([embeddings[unknown & (words == w)].mean(axis=0) for w in sorted(set(words[unknown]))])


def words_as_classes(run: base.Run, embeddings: np.ndarray, words: np.ndarray):
    """A head whose classes are the labels with unknown's clips split by word: the first word keeps
    unknown's class number, the others are appended after the labels."""
    y = run.train[1].copy()
    unknown = y == run.unknown
    names = sorted(set(words[unknown]))
    n = len(run.labels)
    for number, word in enumerate(names[1:]):
        y[unknown & (words == word)] = n + number
    commands = np.concatenate([run.commands, np.zeros(len(names) - 1, bool)])
    return fit_head(embeddings, y, n + len(names) - 1, commands), n


def word_class_scores(run: base.Run, head, n: int, embeddings: np.ndarray, softmax: np.ndarray) -> np.ndarray:
    g = embeddings @ head.weights + head.offsets
    rival = np.maximum(g[:, [run.unknown]], g[:, n:].max(axis=1, keepdims=True))
    near = squared_distances(embeddings, head)[:, :n] <= head.radius
    odds = 1 / (1 + np.exp(-(g[:, :n] - rival) / TEMPERATURE)) * near
    return np.where(run.commands[None, :], odds, softmax)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="finished runs' work folders")
    parser.add_argument("--out", type=Path, required=True, help="folder for the table (CSV)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for work_dir in args.runs:
        run = base.load_run(work_dir)
        embeddings, words = run.predictor.members[0].embed(run.train[0]), training_words(run)
        assert len(words) == len(embeddings), (len(words), len(embeddings))
        means = word_means(run, embeddings, words)
        head, n = words_as_classes(run, embeddings, words)
        print(f"seed {run.seed}: {len(means)} unknown words; scoring its operating streams", flush=True)
        streams = base.stream_windows(run, [run])
        variants = {
            "as trained": lambda o, r=run: r.scores(*o[0]),
            "word means": lambda o, r=run, m=means: r.scores(*o[0], rivals=m),
            "words as classes": lambda o, r=run, h=head, k=n: word_class_scores(r, h, k, *o[0]),
        }
        for name, score in variants.items():
            rows.append({"seed": run.seed, "variant": name, **base.missed(run, streams, score)})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "listening.csv", index=False, float_format="%.4f")
    print((100 * table.pivot_table(index="variant", columns="seed", values=[f"missed at {t}" for t in base.TARGETS],
                                   sort=False)).round(1).to_string())
    print((100 * table.pivot_table(index="variant", columns="seed", values=[f"wrong at {t}" for t in base.TARGETS],
                                   sort=False)).round(1).to_string())


if __name__ == "__main__":
    try:
        main()
    finally:
        QUIET.close()
