"""The speakers task's reference without a network: per clip, the mean and standard deviation over
time of 40 log-mel energies and 13 MFCCs at 16 kHz (106 numbers), then logistic regression, on the
split the speakers task's prepare stage wrote. A CNN that does not beat this has learnt little.

    python benchmarks/pooled_speakers.py --work-dir working   # after run.py --stage prepare --task speakers

Prints top-1 and top-5 validation accuracy, and top-1 on the clips of a word their speaker never says
in training, as the train stage reports them for the CNN.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.io.wavfile  # noqa: E402
from tqdm import tqdm  # noqa: E402

from competition.core.paths import Paths  # noqa: E402
from competition.frontend.mfcc16k import Mfcc16kConfig, log_mel  # noqa: E402
from competition.tasks import get_task  # noqa: E402

CEPSTRA = Mfcc16kConfig()


def clip_16k(path: Path) -> np.ndarray:
    """One second of a 16 kHz 16-bit clip as floats, padded with zeros or cut."""
    rate, samples = scipy.io.wavfile.read(path)
    if rate != CEPSTRA.sample_rate:
        raise SystemExit(f"{path}: expected {CEPSTRA.sample_rate} Hz, found {rate}")
    clip = np.zeros(CEPSTRA.sample_rate, np.float32)
    clip[:min(len(samples), len(clip))] = samples[:len(clip)] / 32768.0
    return clip


def pooled(clips: np.ndarray) -> np.ndarray:
    """Mean and deviation over time of the log-mel energies and of their first 13 DCT coefficients."""
    import scipy.fft

    energies = log_mel(clips, CEPSTRA)
    cepstra = scipy.fft.dct(energies, type=2, norm="ortho", axis=-1)[..., :CEPSTRA.n_mfcc]
    frames = np.concatenate([energies, cepstra], axis=-1)
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)], axis=-1)


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("working"), help="the run's work folder")
    args = parser.parse_args()
    paths = Paths(Path("."), args.work_dir, Path("unused.csv"), task="speakers")
    index = pd.read_csv(paths.index_csv, keep_default_na=False, dtype=str)
    split = {name: index[(index["split"] == name) & (index["kind"] == "clip")].reset_index(drop=True)
             for name in ("train", "validation")}
    x = {name: pooled(np.stack([clip_16k(paths.extract_dir / p) for p in tqdm(table["path"], desc=name)]))
         for name, table in split.items()}
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x["train"], split["train"]["label"])
    probabilities = model.predict_proba(x["validation"])
    y = np.searchsorted(model.classes_, split["validation"]["label"])
    scores = get_task("speakers").evaluate(probabilities, y, split["validation"], split["train"])
    print(f"pooled log-mel + MFCC (16 kHz, {x['train'].shape[1]} numbers), logistic regression, "
          f"{len(split['train'])} training and {len(split['validation'])} validation clips of "
          f"{len(model.classes_)} speakers: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                       for k, v in scores.items()))


if __name__ == "__main__":
    main()
