"""Every figure of the explore stage and of the training report; all matplotlib code lives here.

Each function draws one figure from arrays the stage computed and saves it as a PNG.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in Kaggle kernels

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..core.io import atomic_path  # noqa: E402
from ..core.labels import COMMANDS, LABELS, SILENCE_LABEL, UNKNOWN_LABEL  # noqa: E402

DPI = 100
SPLIT_COLOURS = {"train": "tab:blue", "validation": "tab:orange", "unused": "tab:gray"}


def label_colours() -> dict[str, str]:
    """One fixed colour per label, so the same label looks the same in every scatter."""
    palette = [plt.get_cmap("tab10")(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)] + ["navy"]  # tab10's grey is unknown's
    colours = dict(zip(COMMANDS, palette))
    colours[SILENCE_LABEL] = "black"
    colours[UNKNOWN_LABEL] = "darkgray"
    return colours


def save(fig, path: Path, tight: bool = True) -> Path:
    if tight and fig.get_layout_engine() is None:
        fig.tight_layout()
    with atomic_path(path) as temp:
        fig.savefig(temp, dpi=DPI)
    plt.close(fig)
    return path


def stacked_bars(path: Path, table: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> Path:
    """Horizontal bars, one per row of `table`, stacked over its columns (top row first)."""
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.28 * len(table) + 1.2)))
    left = np.zeros(len(table))
    for column in table.columns:
        ax.barh(table.index, table[column], left=left, label=str(column),
                color=SPLIT_COLOURS.get(str(column)))
        left += table[column].to_numpy(float)
    for y, total in enumerate(left):
        ax.text(total, y, f" {int(total):,}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(0, max(left.max(initial=0) * 1.12, 1)))
    if len(table.columns) > 1:
        ax.legend(title="split", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="x", alpha=0.3)
    return save(fig, path)


def histogram(path: Path, values: np.ndarray, bins, title: str, xlabel: str, ylabel: str,
              log_y: bool = False, marks: dict[str, float] | None = None) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.hist(values, bins=bins, color="tab:blue", edgecolor="white", log=log_y)
    for name, x in (marks or {}).items():
        ax.axvline(x, color="tab:red", linestyle="--")
        ax.text(x, ax.get_ylim()[1], f" {name}", color="tab:red", va="top", fontsize=9)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)


def sample_clip(path: Path, title: str, clip: np.ndarray, rate: int, panels: list[dict]) -> Path:
    """The waveform, then one image per panel (keys: name, image (frames, bins), frame_s, ylabel,
    extent (low, high) of the y axis, unit, and optionally diverging: a colour scale centred on 0),
    all on the same time axis."""
    rows = len(panels) + 1
    fig, axes = plt.subplots(rows, 2, figsize=(10, 2.4 * rows), width_ratios=(40, 1), squeeze=False)
    axes[0, 1].set_visible(False)  # the waveform has no colour bar but keeps the images' width
    wave = axes[0, 0]
    wave.plot(np.arange(len(clip)) / rate, clip, linewidth=0.5, color="tab:blue")
    wave.set(title=f"{title}: waveform", ylabel="amplitude\n(full scale = 1)", xlim=(0, len(clip) / rate))
    for (ax, bar), panel in zip(axes[1:], panels):
        image = panel["image"]
        limit = float(np.abs(image).max()) or 1.0
        scale = dict(cmap="coolwarm", vmin=-limit, vmax=limit) if panel.get("diverging") else dict(cmap="magma")
        shown = ax.imshow(image.T, origin="lower", aspect="auto", interpolation="nearest",
                          extent=(0, image.shape[0] * panel["frame_s"], *panel["extent"]), **scale)
        ax.set(title=panel["name"], ylabel=panel["ylabel"], xlim=wave.get_xlim())
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        fig.colorbar(shown, cax=bar, label=panel["unit"])
    for ax in axes[:-1, 0]:
        ax.tick_params(labelbottom=False)
    axes[-1, 0].set_xlabel("time (s)")
    return save(fig, path)


def word_images(path: Path, images: dict[str, np.ndarray], frame_s: float, max_hz: float, title: str,
                unit: str) -> Path:
    """A grid of (frames, bins) images, one per word, on one shared colour scale."""
    low = min(float(np.percentile(i, 2)) for i in images.values())
    high = max(float(i.max()) for i in images.values())
    fig, axes = plt.subplots(2, (len(images) + 1) // 2, figsize=(16, 6.5), sharex=True, sharey=True, squeeze=False,
                             layout="constrained")  # leaves room for the shared colour bar
    for ax, (word, image) in zip(axes.flat, images.items()):
        shown = ax.imshow(image.T, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high,
                          extent=(0, image.shape[0] * frame_s, 0, max_hz / 1000))
        ax.set_title(word)
    for ax in axes[:, 0]:
        ax.set_ylabel("frequency (kHz)")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.suptitle(title)
    fig.colorbar(shown, ax=axes, label=unit, fraction=0.02, pad=0.01)
    return save(fig, path)


def word_spectra(path: Path, freqs_hz: np.ndarray, spectra: dict[str, np.ndarray], title: str,
                 cutoff_hz: float) -> Path:
    """One spectrum (dB) per word in a grid, a narrowband front end's cut-off marked on each."""
    fig, axes = plt.subplots(2, (len(spectra) + 1) // 2, figsize=(16, 6), sharex=True, sharey=True, squeeze=False)
    for ax, (word, db) in zip(axes.flat, spectra.items()):
        ax.plot(freqs_hz / 1000, db, color="tab:blue", linewidth=1)
        ax.axvline(cutoff_hz / 1000, color="tab:red", linestyle="--", linewidth=1)
        ax.set_title(word)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean power (dB, arbitrary ref.)")
    for ax in axes[-1]:
        ax.set_xlabel("frequency (kHz)")
    fig.suptitle(f"{title} (red: {cutoff_hz / 1000:g} kHz, "
                 f"the highest frequency left at {2 * cutoff_hz / 1000:g} kHz sampling)")
    return save(fig, path)


def resampling(path: Path, full: tuple[np.ndarray, np.ndarray], reduced: tuple[np.ndarray, np.ndarray],
               rates: tuple[int, int], title: str) -> Path:
    """The same clip's spectrum before and after resampling, on the same axes."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5), sharex=True, sharey=True)
    for ax, (freqs, db), rate in zip(axes, (full, reduced), rates):
        ax.plot(freqs / 1000, db, linewidth=0.6, color="tab:blue")
        ax.axvspan(rates[1] / 2000, rates[0] / 2000, color="tab:red", alpha=0.12,
                   label=f"above {rates[1] / 2000:g} kHz: lost at {rates[1] / 1000:g} kHz")
        ax.set(title=f"sampled at {rate / 1000:g} kHz", xlabel="frequency (kHz)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("magnitude (dB, 0 = loudest bin)")
    axes[0].legend(loc="upper right")
    fig.suptitle(title)
    return save(fig, path)


def _scatter_by_label(ax, points: np.ndarray, labels: np.ndarray, size: float, top: int = 20) -> None:
    """The competition's labels in their fixed colours; any other classes (words, speakers) by
    count, the `top` most frequent in colour and the rest in one grey 'other'."""
    if not set(labels) <= set(LABELS):
        names, counts = np.unique(labels, return_counts=True)
        shown = names[np.argsort(-counts, kind="stable")][:top]
        rest = ~np.isin(labels, shown)
        if rest.any():
            ax.scatter(*points[rest].T, s=size, color="lightgray", alpha=0.45, linewidths=0,
                       label=f"other ({len(names) - len(shown)} classes)")
        palette = plt.get_cmap("tab20")
        for number, label in enumerate(shown):
            ax.scatter(*points[labels == label].T, s=size, color=palette(number % 20), label=label, alpha=0.8,
                       linewidths=0)
        return
    colours = label_colours()
    # unknown first and faint: it outnumbers the commands and would hide them
    for label in (UNKNOWN_LABEL,) + tuple(other for other in LABELS if other != UNKNOWN_LABEL):
        chosen = labels == label
        if chosen.any():
            ax.scatter(*points[chosen].T, s=size, color=colours[label], label=label,
                       alpha=0.45 if label == UNKNOWN_LABEL else 0.8, linewidths=0)


def pca_scatter(path: Path, points: np.ndarray, labels: np.ndarray, outliers: np.ndarray,
                explained: np.ndarray, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(10, 7.5))
    _scatter_by_label(ax, points[:, :2], labels, 10)
    ax.scatter(*points[outliers, :2].T, s=80, facecolors="none", edgecolors="red", linewidths=1.2,
               label="most distant (anomalies.csv)")
    ax.set(title=title, xlabel=f"first principal component ({explained[0]:.0%} of variance)",
           ylabel=f"second principal component ({explained[1]:.0%} of variance)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), markerscale=2)
    ax.grid(alpha=0.3)
    return save(fig, path)


def pca_scatter_3d(path: Path, points: np.ndarray, labels: np.ndarray, explained: np.ndarray, title: str) -> Path:
    fig = plt.figure(figsize=(10, 8))
    ax = fig.add_subplot(projection="3d")
    _scatter_by_label(ax, points[:, :3], labels, 14)
    ax.set_title(title)
    for setter, number in zip((ax.set_xlabel, ax.set_ylabel, ax.set_zlabel), range(3)):
        setter(f"PC{number + 1} ({explained[number]:.0%} of variance)")
    fig.legend(loc="center right", markerscale=2)
    fig.subplots_adjust(left=0, right=0.84, bottom=0.03, top=0.95)  # tight_layout does not know 3-D axes
    return save(fig, path, tight=False)


def detection_error_tradeoff(path: Path, curve, eer: float, title: str) -> Path:
    """The DET curve: false rejects against false accepts on normal-deviate axes, where a
    Gaussian pair of score distributions draws a straight line; the EER marked where they meet."""
    from ..tasks.verification import normal_deviates

    ticks = np.array([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95])
    low, high = normal_deviates(ticks[[0, -1]])
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ax.plot(normal_deviates(curve["false_accept"].to_numpy(float)),
            normal_deviates(curve["false_reject"].to_numpy(float)), color="tab:blue", label="this model")
    ax.plot([low, high], [low, high], color="gray", linestyle=":", linewidth=0.8, label="equal error")
    ax.scatter(*normal_deviates(np.array([eer, eer])), color="tab:red", zorder=3, label=f"EER {eer:.1%}")
    ax.set(xticks=normal_deviates(ticks), yticks=normal_deviates(ticks), xlim=(low, high), ylim=(low, high),
           xticklabels=[f"{t:.1%}" for t in ticks], yticklabels=[f"{t:.1%}" for t in ticks],
           xlabel="false accepts (different speakers taken as one)",
           ylabel="false rejects (one speaker taken as two)", title=title)
    ax.tick_params(axis="x", labelrotation=45)  # the low rates sit close on a normal-deviate axis
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return save(fig, path)


def voice_activity(path: Path, examples: list[dict], rate: int, frame_s: float) -> Path:
    """Per example (keys title, clip, bounds, energy_db, threshold_db): the waveform with the
    detected word shaded, and the frame energies against the threshold."""
    fig, axes = plt.subplots(len(examples), 2, figsize=(14, 2.4 * len(examples)), squeeze=False)
    for (wave, energy), example in zip(axes, examples):
        clip = example["clip"]
        wave.plot(np.arange(len(clip)) / rate, clip, linewidth=0.5, color="tab:blue")
        energy.plot(np.arange(len(example["energy_db"])) * frame_s, example["energy_db"], color="tab:blue")
        energy.axhline(example["threshold_db"], color="tab:red", linestyle="--", label="threshold")
        if example["bounds"] is not None:
            for ax in (wave, energy):
                ax.axvspan(*example["bounds"], color="tab:green", alpha=0.2, label="word")
        wave.set(title=example["title"], ylabel="amplitude")
        energy.set(title="frame energy", ylabel="energy (dB)")
        energy.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 1].set_xlabel("time (s)")
    return save(fig, path)


def training_curves(path: Path, history: pd.DataFrame) -> Path:
    fig, (loss, accuracy) = plt.subplots(1, 2, figsize=(14, 5))
    for member, rows in history.groupby("member"):
        suffix = f" (member {member})" if history["member"].nunique() > 1 else ""
        loss.plot(rows["epoch"], rows["loss"], marker="o", label=f"training{suffix}")
        loss.plot(rows["epoch"], rows["val_loss"], marker="o", label=f"validation{suffix}")
        accuracy.plot(rows["epoch"], rows["accuracy"], marker="o", label=f"training{suffix}")
        accuracy.plot(rows["epoch"], rows["val_accuracy"], marker="o", label=f"validation{suffix}")
        accuracy.plot(rows["epoch"], rows["val_balanced_accuracy"], marker="o", linestyle="--",
                      label=f"validation, balanced{suffix}")
    loss.set(title="loss per epoch", xlabel="epoch", ylabel="cross-entropy (nats)")
    accuracy.set(title="accuracy per epoch (training: augmented batches)", xlabel="epoch", ylabel="accuracy")
    for ax in (loss, accuracy):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return save(fig, path)


def confusion(path: Path, matrix: pd.DataFrame, title: str) -> Path:
    """Colour: share of each true label's clips; text: the counts."""
    counts = matrix.to_numpy()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(9, 8))
    shown = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        if count:
            ax.text(column, row, str(count), ha="center", va="center", fontsize=8,
                    color="white" if shares[row, column] > 0.6 else "black")
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.index)), matrix.index)
    ax.set(title=title, xlabel="predicted label", ylabel="true label")
    fig.colorbar(shown, ax=ax, label="share of the true label's clips", fraction=0.046, pad=0.02)
    return save(fig, path)
