"""The practice page in a real headless Chromium, played with the keyboard for twenty rounds.

A real server on a real socket and SQLite file; the test knows each round's truth only by
asking the server's own PracticeAPI object (the page never receives it). Keys go through
WebDriver's key actions, the way a person's keyboard does.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.device.web.server import LiveHub, WebServer
from edge.events import EMOTIONS
from edge.practice import PracticeAPI, Store
from edge.practice.coach import LEVELS
from tests.webdriver import Browser, open_browser

pytestmark = [pytest.mark.slow]
ENTER = "\ue007"  # the W3C WebDriver key code of Return
KEY = {e: str(k + 1) for k, e in enumerate(EMOTIONS)} | {"none": "0"}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    yield from open_browser(tmp_path)


def _serve(db: Path, seed: int) -> tuple[WebServer, PracticeAPI]:
    api = PracticeAPI(Store(db), seed=seed)
    srv = WebServer(LiveHub(), port=0, practice=api)
    assert srv.start()
    return srv, api


def _red_pixels(b: Browser) -> int:
    from PIL import Image

    px = np.asarray(Image.open(io.BytesIO(b.element_png("#face"))).convert("RGB"), np.int16)
    return int(((px[..., 0] > 170) & (px[..., 1] < 110) & (px[..., 2] < 110)).sum())


def _play_round(b: Browser, api: PracticeAPI, last: str, right: bool) -> dict[str, object]:
    rid = b.wait(
        "const d = document.body.dataset; return (d.phase === 'play' || d.phase === 'ask')"
        f" && d.roundId !== {last!r} && d.roundId;"
    )
    truth = api.truth_of(rid)
    assert truth is not None
    speed = float(b.run("return document.body.dataset.speed"))
    answer = truth if right else ("surprise" if truth == "fear" else "fear")
    b.press(KEY[answer])
    b.wait("return document.body.dataset.phase === 'feedback'")
    shown = b.run("return document.getElementById('fb-emotion').textContent")
    aus = b.run("return Array.from(document.querySelectorAll('#fb-aus li'), (l) => l.textContent)")
    expl = b.run("return document.getElementById('fb-expl').textContent")
    return {"id": rid, "truth": truth, "shown": shown, "aus": aus, "expl": expl, "speed": speed,
            "correct": b.run("return document.body.dataset.correct") == "true"}  # fmt: skip


def test_twenty_rounds_by_keyboard_feedback_ramp_and_restart(
    tmp_path: Path, browser: Browser
) -> None:
    db = tmp_path / "practice.db"
    srv, api = _serve(db, seed=4)
    try:
        browser.get(f"{srv.url}practice?person=tester")
        browser.wait("return document.body.dataset.phase === 'ready'")
        browser.press(ENTER)
        rounds: list[dict[str, object]] = []
        last = ""
        for k in range(20):
            r = _play_round(browser, api, last, right=k >= 2)  # two misses, then a run
            last = str(r["id"])
            rounds.append(r)
            assert r["correct"] is (k >= 2)
            want = "no slip" if r["truth"] == "none" else str(r["truth"])
            assert str(r["shown"]).startswith(want)
            assert r["aus"] and any("AU" in a for a in r["aus"])  # type: ignore[union-attr]
            assert str(r["truth"]) in str(r["expl"]).lower() or r["truth"] == "none"
            if k == 2:  # the slip replays slowly, its moving regions in red
                frames = "return Number(document.getElementById('face').dataset.framesDrawn)"
                drawn = int(browser.run(frames))
                browser.wait(f"{frames} > {drawn + 10}")
                assert _red_pixels(browser) > 30 or r["truth"] == "none"
            browser.press(ENTER)
        speeds = [float(str(r["speed"])) for r in rounds]
        assert speeds[0] == LEVELS[0].speed
        assert max(speeds) > LEVELS[0].speed  # the run of right answers sped it up
        assert speeds[2:] == sorted(speeds[2:])  # and nothing slowed it during the run
        level_before = browser.run("return document.body.dataset.level")
        browser.wait("return document.getElementById('prog-total').dataset.answers === '20'")
        assert browser.run("return document.getElementById('chart').dataset.days") == "1"
        assert int(browser.run("return document.getElementById('chart').dataset.emotions")) >= 4
    finally:
        srv.stop()
        api.store.close()

    srv, api = _serve(db, seed=5)  # a restart: a new process would see the same file
    try:
        browser.get(f"{srv.url}practice?person=tester")
        browser.wait("return document.getElementById('prog-total').dataset.answers === '20'")
        text = browser.run("return document.getElementById('prog-total').textContent")
        assert "20 built-in answers" in text and "90%" in text
        rows = browser.run("return document.querySelectorAll('#by-emotion tbody tr').length")
        assert rows >= 4
        browser.press(ENTER)
        browser.wait("return document.body.dataset.phase === 'play'")
        assert browser.run("return document.body.dataset.level") == level_before
    finally:
        srv.stop()
        api.store.close()
