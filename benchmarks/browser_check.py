"""Open report pages in headless Chromium with the network off, as a reader on a train would.

    python benchmarks/browser_check.py WORK/reports/explore/index.html WORK/reports/train/index.html \\
        --screenshots shots/

Each page is opened from its folder (file://) in a browser context that is offline, and every
request that is not to a local file or a data: URL is refused. A page fails on any JavaScript
error, console error or failed request; on a plotly figure that does not draw; on a 3-D view
that cannot be turned (its camera is moved through plotly's own API); on an audio player whose
clip does not load, or a last player that does not play. Saved for each page: a full-page
screenshot and one per interactive figure.
Exit status 1, with one line per problem, if any page fails.

Needs Playwright (`pip install playwright`) and a Chromium: $CHROMIUM, or chromium,
chromium-browser or google-chrome on the PATH. Playwright's own browser download is not used.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# a closed network floods a default Chromium with refused connections (updates, sync, first-run
# pages); software WebGL (SwiftShader) draws the 3-D views where there is no GPU
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--mute-audio", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--autoplay-policy=no-user-gesture-required"]
LOCAL = ("file:", "data:", "blob:", "about:")
TIMEOUT_MS = 30_000

# Resolves once every player has its clip's metadata (or an error), or after 10 s: the duration
# of each player, -1 for an error, -2 for no answer.
AUDIO_DURATIONS = """async () => Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(done => {
    if (a.readyState >= 1) return done(a.duration);
    a.addEventListener('loadedmetadata', () => done(a.duration), {once: true});
    a.addEventListener('error', () => done(-1), {once: true});
    setTimeout(() => done(-2), 10000);
    a.preload = 'metadata';
    a.load();
})))"""
# Plays the last player (in the reports, an anomaly or a mistake) for 0.4 s, as a click on play
# would; resolves with how far it got (s).
PLAY = """async () => {
    const player = [...document.querySelectorAll('audio')].pop();
    await player.play();
    await new Promise(done => setTimeout(done, 400));
    player.pause();
    return player.currentTime;
}"""
# Moves the camera of every 3-D scene, as a drag would; resolves with the number turned.
TURN = """async () => {
    let turned = 0;
    for (const div of document.querySelectorAll('.js-plotly-plot')) {
        const scenes = Object.keys(div._fullLayout).filter(key => /^scene\\d*$/.test(key));
        for (const scene of scenes) {
            await Plotly.relayout(div, {[scene + '.camera.eye']: {x: 1.6, y: -1.6, z: 0.8}});
            turned += 1;
        }
    }
    return turned;
}"""


@dataclasses.dataclass
class PageCheck:
    page: Path
    problems: list[str]
    figures: int = 0
    scenes_turned: int = 0
    players: int = 0
    played_s: float = 0.0
    screenshots: list[Path] = dataclasses.field(default_factory=list)


def find_chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def check_pages(pages: list[Path], screenshots: Path, chromium: str) -> list[PageCheck]:
    from playwright.sync_api import sync_playwright

    screenshots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            return [_check(browser, Path(page).resolve(), screenshots, number)
                    for number, page in enumerate(pages, 1)]
        finally:
            browser.close()


def _check(browser, page_path: Path, screenshots: Path, number: int) -> PageCheck:
    result = PageCheck(page_path, [])
    if not page_path.is_file():
        result.problems.append(f"{page_path}: no such page")
        return result
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})

    def refuse(route):
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            result.problems.append(f"{page_path}: request to {route.request.url} (expected only local files)")
            route.abort()

    context.route("**/*", refuse)
    page = context.new_page()
    page.on("pageerror", lambda error: result.problems.append(f"{page_path}: JavaScript error: {error}"))
    page.on("console", lambda message: result.problems.append(f"{page_path}: console error: {message.text}")
            if message.type == "error" else None)
    page.on("requestfailed", lambda request: result.problems.append(
        f"{page_path}: failed request {request.url} ({request.failure})"))
    try:
        page.goto(page_path.as_uri(), wait_until="load", timeout=TIMEOUT_MS)
        result.figures = page.locator(".plotly-graph-div").count()
        if result.figures and page.evaluate("() => typeof Plotly") == "undefined":
            result.problems.append(f"{page_path}: {result.figures} plotly figures but no plotly library loaded")
        elif result.figures:
            try:  # plotly sets _fullLayout once it has drawn a figure
                page.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')]"
                                       ".every(div => div._fullLayout)", timeout=TIMEOUT_MS)
                result.scenes_turned = page.evaluate(TURN)
            except Exception as error:  # noqa: BLE001 - reported as the page's problem, the next page still runs
                result.problems.append(f"{page_path}: plotly figures did not draw ({str(error).splitlines()[0]})")
            if "WebGL is not supported" in page.inner_text("body"):
                result.problems.append(f"{page_path}: the browser has no WebGL: the 3-D views are blank")
        durations = page.evaluate(AUDIO_DURATIONS)
        result.players = len(durations)
        if failed := [i for i, seconds in enumerate(durations) if not seconds > 0]:
            result.problems.append(f"{page_path}: players {failed[:10]} did not load their clip "
                                   f"(durations {[durations[i] for i in failed[:10]]}; expected > 0 s)")
        if durations:
            result.played_s = page.evaluate(PLAY)
            if not result.played_s > 0:
                result.problems.append(f"{page_path}: the last player did not play (at {result.played_s} s after "
                                       "0.4 s; expected > 0 s)")
        page.wait_for_timeout(500)  # errors thrown while the turned scenes redraw
        stem = f"{number}-{page_path.parent.name}"
        full = screenshots / f"{stem}.png"
        page.screenshot(path=str(full), full_page=True)
        result.screenshots.append(full)
        for index, div in enumerate(page.locator(".plotly-graph-div").all()):
            shot = screenshots / f"{stem}-{div.get_attribute('id') or index}.png"
            div.screenshot(path=str(shot))
            result.screenshots.append(shot)
    finally:
        context.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+", type=Path, help="report pages (index.html) to open")
    parser.add_argument("--screenshots", type=Path, default=Path("screenshots"), help="folder for the screenshots")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print(f"error: no Chromium: set $CHROMIUM or put one of {', '.join(BROWSERS)} on the PATH", file=sys.stderr)
        return 1
    checks = check_pages(args.pages, args.screenshots, chromium)
    for check in checks:
        status = "FAIL" if check.problems else "ok"
        print(f"{status} {check.page}: {check.figures} plotly figures, {check.scenes_turned} 3-D scenes turned, "
              f"{check.players} players (the last played {check.played_s:.2f} s); "
              f"screenshots {', '.join(str(s) for s in check.screenshots)}")
        for problem in check.problems:
            print(f"  {problem}")
    return 1 if any(check.problems for check in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
