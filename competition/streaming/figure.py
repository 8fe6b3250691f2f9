"""The DET figure: false accepts an hour on negative streams against the share of commands missed,
one line per model, each model's marked threshold drawn as a dot."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.io import atomic_path


def plot_det(points: pd.DataFrame, path: Path) -> list[str]:
    """The DET figure (PNG): false accepts per hour (log scale; none at all is drawn at the left edge,
    half of one false accept in the hours heard) against the share of commands missed, one line per
    model, its default threshold marked. Returns the lines' labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 0.5 / points["negative_hours"].max()
    figure, axes = plt.subplots(figsize=(7, 5))
    names = list(dict.fromkeys(points["model"]))
    for order, name in enumerate(names):
        rows = points[points["model"] == name].sort_values("threshold")
        x = rows["false_accepts_per_hour"].clip(lower=floor)
        (line,) = axes.plot(x, 100 * rows["missed"], marker=".", label=name)
        default = rows[rows["default"]]
        axes.plot(x[default.index], 100 * default["missed"], marker="o", markersize=10, linestyle="none",
                  color=line.get_color())
        for index, row in default.iterrows():
            axes.annotate(f"{name}: default {row['threshold']:g}", (x[index], 100 * row["missed"]),
                          textcoords="offset points", xytext=(-8, 8 + 14 * order), ha="right",
                          color=line.get_color())  # one above another where the models' defaults meet
    axes.set_xscale("log")
    axes.axvline(floor, color="grey", linewidth=0.5, linestyle=":")
    axes.set_xlabel(f"false accepts per hour on {points['negative_hours'].max():.2f} h of negative streams "
                    f"(none: drawn at {floor:.2g})")
    axes.set_ylabel("commands missed or wrongly named (%)")
    axes.set_title("DET: threshold swept, the rest of the recogniser at its defaults")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, dpi=120)
    plt.close(figure)
    return names
