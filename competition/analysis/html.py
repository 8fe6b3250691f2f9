"""The HTML page of a report folder: each figure or table under its one line of reading."""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..core.io import atomic_write_text
from ..core.paths import REPORT_PAGE

# An item of a report: its one line of reading, then a PNG's file name or a table.
Item = tuple[str, str | pd.DataFrame]


def write_index(folder: Path, title: str, intro: str, items: list[Item]) -> Path:
    """index.html showing each figure or table in order, under its line of reading."""
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
             "section{margin-bottom:2em}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>"]
    for number, (reading, content) in enumerate(items, 1):
        parts.append(f"<section><h3>{number}. {html.escape(reading)}</h3>")
        if isinstance(content, pd.DataFrame):
            parts.append(content.to_html(float_format=lambda v: f"{v:.3f}", border=0))
        else:
            parts.append(f"<a href='{html.escape(content)}'><img src='{html.escape(content)}' "
                         f"alt='{html.escape(reading)}'></a>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    path = folder / REPORT_PAGE
    atomic_write_text(path, "\n".join(parts))
    return path
