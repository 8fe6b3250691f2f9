"""The HTML page of a report folder: each figure or table under its one line of reading."""
from __future__ import annotations

import base64
import dataclasses
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io.wavfile

from ..core.io import atomic_write_text
from ..core.paths import REPORT_PAGE
from .interactive import LIBRARY, Interactive, write_library


@dataclasses.dataclass(frozen=True)
class Listen:
    """A table with an audio player in each row: `wavs` holds one WAV file's bytes per row."""

    table: pd.DataFrame
    wavs: list[bytes]


# What a report shows under a reading: a PNG's file name, a table, an interactive figure or a
# table with players.
Content = str | pd.DataFrame | Interactive | Listen
# An item of a report: its one line of reading, then one content or several (a PNG and its 3-D view).
Item = tuple[str, Content | list[Content]]


def wav_bytes(clip: np.ndarray, rate: int) -> bytes:
    """A float clip as a 16-bit PCM WAV file in memory (scipy writes a fixed header: the same
    samples give the same bytes)."""
    pcm = np.round(np.clip(np.asarray(clip, np.float64), -1.0, 1.0) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    scipy.io.wavfile.write(buffer, rate, pcm)
    return buffer.getvalue()


def audio_player(wav: bytes) -> str:
    # carried in the page, not linked: the report works from a copied folder, without extract/,
    # and a silence window (a second cut from a minute of noise) has no file of its own
    return f"<audio controls preload='none' src='data:audio/wav;base64,{base64.b64encode(wav).decode()}'></audio>"


def _cell(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.3f}"
    return html.escape(str(value))


def listen_table(content: Listen) -> str:
    table = content.table
    if len(table) != len(content.wavs):
        raise ValueError(f"a table of {len(table)} rows with {len(content.wavs)} clips; expected one clip per row")
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [table.index.name or "", *table.columns, "listen"])
    rows = ["<tr><th>" + _cell(index) + "</th>" + "".join(f"<td>{_cell(v)}</td>" for v in row)
            + f"<td>{audio_player(wav)}</td></tr>"
            for (index, *row), wav in zip(table.itertuples(), content.wavs)]
    return f"<table class='listen'><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


def _render(reading: str, content: Content) -> str:
    if isinstance(content, pd.DataFrame):
        return content.to_html(float_format=lambda v: f"{v:.3f}", border=0)
    if isinstance(content, Interactive):
        return f"<div class='interactive'>{content.markup}</div>"
    if isinstance(content, Listen):
        return listen_table(content)
    return f"<a href='{html.escape(content)}'><img src='{html.escape(content)}' alt='{html.escape(reading)}'></a>"


def write_index(folder: Path, title: str, intro: str, items: list[Item]) -> Path:
    """index.html showing each figure or table in order, under its line of reading; with an
    interactive figure, plotly's script is written next to it and loaded from there."""
    contents = [c for _, content in items for c in (content if isinstance(content, list) else [content])]
    interactive = any(isinstance(c, Interactive) for c in contents)
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<script src='{LIBRARY}' charset='utf-8'></script>" if interactive else "",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
             "table.listen td{text-align:left}audio{height:2em;vertical-align:middle}"
             "section{margin-bottom:2em}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>"]
    for number, (reading, content) in enumerate(items, 1):
        parts.append(f"<section><h3>{number}. {html.escape(reading)}</h3>")
        parts.extend(_render(reading, c) for c in (content if isinstance(content, list) else [content]))
        parts.append("</section>")
    parts.append("</body></html>\n")
    if interactive:
        write_library(folder)
    path = folder / REPORT_PAGE
    atomic_write_text(path, "\n".join(p for p in parts if p))
    return path
