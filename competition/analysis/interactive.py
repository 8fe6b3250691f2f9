"""The reports' interactive views; all plotly code lives here, as all matplotlib code lives in plots.py.

Each function builds one figure from arrays the stage computed and returns its markup (a div and
the script that draws it). The library itself is one file next to the page, `plotly.min.js`,
copied from the plotly package: a report opens with no network (a Kaggle kernel with internet
off), and the page stays small enough to read and diff while the 4.8 MB library is parsed once
and cached by the browser. Div ids are fixed and sampling is seeded, so a report's bytes depend
only on its data and seed.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .. import PipelineError
from ..core.io import atomic_path

log = logging.getLogger(__name__)

LIBRARY = "plotly.min.js"  # the file next to the page that the page's script tag loads

# what plotly's modebar links to (the logo, "edit in chart studio") is switched off: the page
# names no outside address
CONFIG = {"displaylogo": False, "responsive": True, "showSendToCloud": False}
HEIGHT = 680
MARKED_COLOUR = "red"
OTHER_COLOUR = "#bbbbbb"


@dataclasses.dataclass(frozen=True)
class Interactive:
    """An interactive figure's markup: a div and the script that draws it, without the library."""

    markup: str


def write_library(folder: Path) -> Path:
    """Copy plotly's own minified bundle into the report folder, byte for byte."""
    import importlib.resources

    source = importlib.resources.files("plotly") / "package_data" / LIBRARY
    if not source.is_file():
        raise PipelineError(f"{source}: expected the {LIBRARY} that plotly ships; reinstall plotly")
    with atomic_path(folder / LIBRARY) as temp:
        temp.write_bytes(source.read_bytes())
    return folder / LIBRARY


def _markup(figure, div_id: str) -> Interactive:
    import plotly.io

    return Interactive(plotly.io.to_html(figure, config=CONFIG, full_html=False, include_plotlyjs=False,
                                         div_id=div_id, default_height=f"{HEIGHT}px"))


def spectrogram_surface(image: np.ndarray, frame_s: float, max_hz: float, title: str, div_id: str) -> Interactive:
    """A log-spectrogram (frames, bins) as a surface over time and frequency."""
    return _markup(surface_figure(image, frame_s, max_hz, title), div_id)


def surface_figure(image: np.ndarray, frame_s: float, max_hz: float, title: str):
    import plotly.graph_objects as go

    frames, bins = image.shape
    figure = go.Figure(go.Surface(
        z=np.asarray(image.T, np.float32), x=np.arange(frames, dtype=np.float32) * np.float32(frame_s),
        y=np.linspace(0, max_hz, bins, dtype=np.float32), colorscale="Viridis",
        colorbar={"title": {"text": "log power"}},
        hovertemplate="%{x:.2f} s, %{y:.0f} Hz: %{z:.2f}<extra></extra>"))
    figure.update_layout(title=title, template="plotly_white", margin={"l": 0, "r": 0, "t": 40, "b": 0},
                         scene={"xaxis_title": "time (s)", "yaxis_title": "frequency (Hz)",
                                "zaxis_title": "log power", "aspectmode": "manual",
                                "aspectratio": {"x": 1.4, "y": 1.4, "z": 0.6}})
    return figure


def shown_points(n: int, limit: int, seed: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Rows a scatter shows: all of them up to `limit`, else every row in `keep` (up to `limit`)
    and a seeded sample of the rest; sorted, so the page follows the data's order."""
    keep = np.zeros(n, bool) if keep is None else np.asarray(keep, bool)
    if n <= limit:
        return np.arange(n)
    kept = np.flatnonzero(keep)[:limit]
    rest = np.flatnonzero(~keep)
    chosen = np.random.default_rng(seed).choice(rest, limit - len(kept), replace=False)
    return np.sort(np.concatenate([kept, chosen]))


def class_order(labels: np.ndarray, top: int | None, order: list[str] | None = None) -> tuple[list[str], int]:
    """The classes drawn each in their own colour, and how many more are pooled as 'other'.

    Without `top`, every class (in `order` where given, else most points first). With it, the
    `top` classes with most points: a task with many classes (2,000 speakers) keeps a legend
    one can read."""
    names, counts = np.unique(labels, return_counts=True)
    by_count = [str(name) for _, name in sorted(zip(-counts, names))]  # ties by name: deterministic
    if top is not None:
        return by_count[:top], max(0, len(by_count) - top)
    if order is not None:
        return [c for c in order if c in set(by_count)] + [c for c in by_count if c not in order], 0
    return by_count, 0


def label_scatter_3d(points: np.ndarray, labels: np.ndarray, hover: pd.DataFrame, marked: np.ndarray, *,
                     div_id: str, **options) -> Interactive:
    """scatter_figure's figure as markup for the page."""
    log.info("%s: %d of %d points shown (limit %d), %d marked", div_id, min(len(points), options["limit"]),
             len(points), options["limit"], int(np.sum(marked)))
    return _markup(scatter_figure(points, labels, hover, marked, **options), div_id)


def scatter_figure(points: np.ndarray, labels: np.ndarray, hover: pd.DataFrame, marked: np.ndarray, *,
                   marked_name: str, explained: np.ndarray, title: str, limit: int, seed: int,
                   top: int | None = None, order: list[str] | None = None,
                   colours: dict[str, str] | None = None, faint: tuple[str, ...] = ()):
    """A 3-D scatter of `points` (n, 3), one trace per class so the legend toggles classes, each
    point's hover naming the columns of `hover` (n rows); points in `marked` are ringed in red in
    a trace of their own (hidden or shown from the legend).

    Shows at most `limit` points (every marked one kept; the rest a seeded sample) so the page
    weight does not grow with the data set. `top`: only the classes with most points get a
    colour of their own, the rest one grey 'other' trace (for a task with many classes, such as
    speakers). `colours`: fixed colours per class (else plotly's palette); `faint`: classes drawn
    translucent (unknown, which outnumbers the commands)."""
    import plotly.colors
    import plotly.graph_objects as go

    labels = np.asarray(labels).astype(str)
    if not len(points) == len(labels) == len(hover) == len(marked):
        raise ValueError(f"{title}: {len(points)} points, {len(labels)} labels, {len(hover)} hover rows and "
                         f"{len(marked)} marks; expected one of each per point")
    shown = shown_points(len(points), limit, seed, marked)
    points, labels, marked = np.asarray(points, np.float32)[shown], labels[shown], np.asarray(marked, bool)[shown]
    hover = hover.iloc[shown].astype(str)
    template = "<br>".join(f"{html_name(name)}: %{{customdata[{i}]}}" for i, name in enumerate(hover.columns))
    palette = plotly.colors.qualitative.Dark24 + plotly.colors.qualitative.Light24
    classes, pooled = class_order(labels, top, order)
    groups = [(name, labels == name, (colours or {}).get(name, palette[i % len(palette)]))
              for i, name in enumerate(classes)]
    if pooled:
        groups.append((f"other ({pooled} classes)", ~np.isin(labels, classes), OTHER_COLOUR))
    traces = [go.Scatter3d(x=points[rows, 0], y=points[rows, 1], z=points[rows, 2], mode="markers", name=name,
                           marker={"size": 3, "color": colour, "opacity": 0.35 if name in faint else 0.8},
                           customdata=hover[rows].to_numpy(), hovertemplate=f"{template}<extra>{name}</extra>")
              for name, rows, colour in groups if rows.any()]
    traces.append(go.Scatter3d(
        x=points[marked, 0], y=points[marked, 1], z=points[marked, 2], mode="markers",
        name=f"{marked_name} ({int(marked.sum())})",
        marker={"size": 7, "symbol": "circle-open", "color": MARKED_COLOUR, "line": {"width": 2}},
        customdata=hover[marked].to_numpy(), hovertemplate=f"{template}<extra>{marked_name}</extra>"))
    axes = {f"{axis}axis_title": f"PC{i + 1} ({explained[i]:.0%})" for i, axis in enumerate("xyz")}
    figure = go.Figure(traces)
    figure.update_layout(title=f"{title}; {len(shown):,} points shown", template="plotly_white",
                         margin={"l": 0, "r": 0, "t": 40, "b": 0}, legend={"itemsizing": "constant"},
                         scene={**axes, "aspectmode": "cube"})
    return figure


def hex_colours(colours: dict) -> dict[str, str]:
    """matplotlib colours (names, RGBA tuples) as the hex strings plotly reads: the same label
    looks the same in the PNGs and in the 3-D views."""
    import matplotlib.colors

    return {name: matplotlib.colors.to_hex(colour) for name, colour in colours.items()}


def html_name(column: str) -> str:
    """A column name as hover text: words, not snake case."""
    return str(column).replace("_", " ")
