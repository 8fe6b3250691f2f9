"""The reports' interactive views and players, on small made-up data; and the browser check on a
tiny demo report (skipped where Chromium or Playwright is missing)."""
import base64
import functools
import importlib.resources
import importlib.util
import io
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io.wavfile

from competition.analysis import interactive
from competition.analysis.html import Listen, listen_table, wav_bytes, write_index

BROWSER_CHECK = Path(__file__).resolve().parents[1] / "benchmarks" / "browser_check.py"


@functools.cache
def _browser_check():
    spec = importlib.util.spec_from_file_location("browser_check", BROWSER_CHECK)
    module = importlib.util.module_from_spec(spec)
    sys.modules["browser_check"] = module  # its dataclass looks its module up while the class is built
    spec.loader.exec_module(module)
    return module


def _scatter_data(n=60, classes=("a", "b", "c", "d", "e"), seed=0):
    rng = np.random.default_rng(seed)
    labels = np.array(classes)[np.minimum(rng.geometric(0.4, n) - 1, len(classes) - 1)]
    hover = pd.DataFrame({"file": [f"clip_{i}.wav" for i in range(n)], "word": labels})
    marked = np.zeros(n, bool)
    marked[[3, 17, 41]] = True
    return rng.normal(size=(n, 3)), labels, hover, marked


def _options(**changes):
    return {"marked_name": "odd", "explained": np.array([0.5, 0.2, 0.1]), "title": "t", "limit": 1000, "seed": 0,
            **changes}


def test_a_scatter_shows_at_most_its_limit_keeping_every_marked_point():
    points, labels, hover, marked = _scatter_data()
    figure = interactive.scatter_figure(points, labels, hover, marked, **_options(limit=20))
    *classes, ringed = figure.data
    shown = [f for trace in classes for f in trace.customdata[:, 0]]
    assert len(shown) == 20 and len(set(shown)) == 20
    assert sorted(ringed.customdata[:, 0]) == ["clip_17.wav", "clip_3.wav", "clip_41.wav"]
    assert set(ringed.customdata[:, 0]) <= set(shown)
    assert ringed.name == "odd (3)" and "20 points shown" in figure.layout.title.text
    again = interactive.scatter_figure(points, labels, hover, marked, **_options(limit=20))
    assert [list(t.customdata[:, 0]) for t in again.data] == [list(t.customdata[:, 0]) for t in figure.data]


def test_hover_names_each_points_columns_and_its_class():
    points, labels, hover, marked = _scatter_data()
    figure = interactive.scatter_figure(points, labels, hover, marked, **_options())
    for trace in figure.data[:-1]:
        assert trace.hovertemplate == f"file: %{{customdata[0]}}<br>word: %{{customdata[1]}}<extra>{trace.name}</extra>"
        assert set(trace.customdata[:, 1]) == {trace.name}  # each point sits in its own class's trace
        rows = hover.set_index("file").loc[list(trace.customdata[:, 0])]
        assert np.allclose(np.c_[trace.x, trace.y, trace.z], points[rows.index.str[5:-4].astype(int)], atol=1e-6)


def test_many_classes_show_the_top_ones_and_pool_the_rest():
    # the speakers task: hundreds of classes; only the busiest get a colour and a legend entry
    classes = [f"speaker{i:03d}" for i in range(40)]
    points, labels, hover, marked = _scatter_data(n=400, classes=classes)
    figure = interactive.scatter_figure(points, labels, hover, marked, **_options(top=5))
    names = [trace.name for trace in figure.data]
    counts = pd.Series(labels).value_counts()
    present = len(counts)
    assert names[:5] == list(counts.sort_index().sort_values(ascending=False, kind="stable").index[:5])
    assert names[5] == f"other ({present - 5} classes)" and len(names) == 7
    assert sum(len(t.x) for t in figure.data[:-1]) == 400


def test_fixed_colours_and_order_are_kept():
    points, labels, hover, marked = _scatter_data()
    figure = interactive.scatter_figure(points, labels, hover, marked,
                                        **_options(order=["e", "d", "c", "b", "a"], colours={"a": "#ff0000"}))
    names = [trace.name for trace in figure.data[:-1]]
    assert names == [c for c in ["e", "d", "c", "b", "a"] if c in set(labels)]
    assert next(t for t in figure.data if t.name == "a").marker.color == "#ff0000"


def test_a_scatter_refuses_hover_rows_that_do_not_match_the_points():
    points, labels, hover, marked = _scatter_data()
    with pytest.raises(ValueError, match="60 points, 60 labels, 59 hover rows"):
        interactive.scatter_figure(points, labels, hover.iloc[1:], marked, **_options())


def test_a_wav_in_the_page_is_the_clip_at_16_bits():
    clip = np.sin(np.linspace(0, 200, 16_000)) * 0.5
    clip[5] = 3.0  # louder than full scale: clipped, not wrapped around
    rate, samples = scipy.io.wavfile.read(io.BytesIO(wav_bytes(clip, 16_000)))
    assert rate == 16_000 and samples.dtype == np.int16 and len(samples) == 16_000
    assert samples[5] == 32767 and np.abs(samples / 32767 - np.clip(clip, -1, 1)).max() < 1e-4
    assert wav_bytes(clip, 16_000) == wav_bytes(clip.copy(), 16_000)


def test_a_listen_table_escapes_its_cells_and_has_one_player_per_row():
    table = pd.DataFrame({"file": ["<b>odd</b>.wav", "plain.wav"], "score": [0.12345, 2.0]},
                         index=pd.Index([1, 2], name="rank"))
    wavs = [wav_bytes(np.zeros(100), 16_000), wav_bytes(np.ones(100) * 0.1, 16_000)]
    markup = listen_table(Listen(table, wavs))
    assert "&lt;b&gt;odd&lt;/b&gt;.wav" in markup and "<b>odd" not in markup and "0.123" in markup
    players = re.findall(r"<audio controls preload='none' src='data:audio/wav;base64,([^']+)'>", markup)
    assert [base64.b64decode(p) for p in players] == wavs
    with pytest.raises(ValueError, match="2 rows with 1 clips"):
        listen_table(Listen(table, wavs[:1]))


def _demo_report(folder: Path) -> Path:
    points, labels, hover, marked = _scatter_data()
    scatter = interactive.label_scatter_3d(points, labels, hover, marked, div_id="demo-scatter", **_options())
    surface = interactive.spectrogram_surface(np.random.default_rng(1).normal(size=(30, 20)), 0.01, 4000.0,
                                              "a surface", "demo-surface")
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16_000)
    players = Listen(pd.DataFrame({"file": ["tone.wav"]}, index=pd.Index([1], name="rank")),
                     [wav_bytes(tone, 16_000)])
    folder.mkdir(parents=True, exist_ok=True)
    return write_index(folder, "demo", "a demo report", [("a scatter", scatter), ("a surface", [surface, players])])


def test_a_page_with_3d_views_loads_plotly_from_its_own_folder_and_names_no_outside_address(tmp_path):
    page = _demo_report(tmp_path / "report")
    text = page.read_text()
    library = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
    assert (tmp_path / "report" / "plotly.min.js").read_bytes() == library.read_bytes()
    assert re.findall(r"<script src='([^']+)'", text) == ["plotly.min.js"]
    assert not re.search(r"https?://", text), re.search(r".{60}https?://.{60}", text)
    assert 'Plotly.newPlot(                        "demo-scatter"' in text and '"demo-surface"' in text
    assert text.count('{"displaylogo": false') == 2  # no link to plotly's site in the modebar
    assert text.count("<audio ") == 1
    # no interactive figure: no library, no script tag
    plain = write_index(tmp_path / "plain", "plain", "no 3-D", [("a table", pd.DataFrame({"x": [1]}))])
    assert "<script" not in plain.read_text() and not (tmp_path / "plain" / "plotly.min.js").exists()


def test_a_demo_page_is_byte_identical_when_written_again(tmp_path):
    first = _demo_report(tmp_path / "one").read_bytes()
    assert _demo_report(tmp_path / "two").read_bytes() == first


def _chromium_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install playwright)"
    if _browser_check().find_chromium() is None:
        return "no Chromium: set $CHROMIUM or install chromium (apt-get install chromium)"
    return None


@pytest.mark.skipif(_chromium_missing() is not None, reason=str(_chromium_missing()))
def test_the_browser_check_passes_a_working_report_and_fails_broken_ones(tmp_path):
    check = _browser_check()
    good = _demo_report(tmp_path / "good")
    # one broken page for both faults: without its library it does not draw, which keeps the test fast
    broken = _demo_report(tmp_path / "broken")
    (tmp_path / "broken" / "plotly.min.js").unlink()
    broken.write_text(broken.read_text().replace("<h1>", "<img src='https://example.com/logo.png'><h1>"))
    results = check.check_pages([good, broken], tmp_path / "shots", check.find_chromium())
    assert results[0].problems == []
    assert (results[0].figures, results[0].scenes_turned, results[0].players) == (2, 2, 1)
    assert 0 < results[0].played_s <= 0.5  # the demo tone is 0.5 s long
    assert [s.name for s in results[0].screenshots] == ["1-good.png", "1-good-demo-scatter.png",
                                                        "1-good-demo-surface.png"]
    assert all(s.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for s in results[0].screenshots)
    problems = "\n".join(results[1].problems)
    assert "failed request" in problems and "plotly.min.js" in problems
    assert "Plotly is not defined" in problems and "no plotly library loaded" in problems
    assert "request to https://example.com/logo.png" in problems
