"""Practice API on a real socket and a real SQLite file: rounds, feedback, bad requests."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.device.web.server import LiveHub, WebServer
from edge.events import EMOTIONS
from edge.events.motion import Motion
from edge.practice import PracticeAPI, Store
from edge.practice.coach import LEVELS, PROMOTE_RUN

ROUND_KEYS = {"id", "deck", "person", "speed", "level", "motion", "choices"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[WebServer, PracticeAPI]]:
    api = PracticeAPI(Store(tmp_path / "practice.db"), seed=7)
    srv = WebServer(LiveHub(), port=0, practice=api)
    assert srv.start()
    try:
        yield srv, api
    finally:
        srv.stop()
        api.store.close()


def _req(
    srv: WebServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.getheader("Content-Type") or "", data


def _json(srv: WebServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else None
    status, ctype, data = _req(srv, method, path, raw, {"Content-Type": "application/json"})
    assert ctype == "application/json", (status, data[:200])
    return status, json.loads(data)


def _deal(srv: WebServer, person: str = "ann", deck: str = "builtin") -> dict[str, Any]:
    status, r = _json(srv, "GET", f"/api/practice/next?deck={deck}&person={person}")
    assert status == 200, r
    return dict(r)


def _answer(srv: WebServer, rid: str, answer: str, person: str = "ann") -> tuple[int, Any]:
    return _json(
        srv, "POST", "/api/practice/answer", {"id": rid, "answer": answer, "person": person}
    )


def test_a_round_is_motion_and_choices_never_the_answer(
    served: tuple[WebServer, PracticeAPI],
) -> None:
    srv, api = served
    r = _deal(srv)
    assert set(r) == ROUND_KEYS
    assert r["deck"] == "builtin" and r["speed"] == LEVELS[0].speed == 0.25
    m = Motion.from_dict(r["motion"])  # the same layout and form as an event's motion
    assert len(m.t_ms) > 50 and m.t_ms[-1] >= 1300  # neutral lead-in, slip, neutral tail
    assert [c["key"] for c in r["choices"]] == ["1", "2", "3", "4", "5", "6", "7", "0"]
    assert [c["emotion"] for c in r["choices"]] == [*EMOTIONS, "none"]
    text = json.dumps({k: v for k, v in r.items() if k != "choices"})
    truth = api.truth_of(r["id"])
    assert truth is not None and truth not in text


def test_feedback_names_the_emotion_and_its_aus_in_facs_terms(
    served: tuple[WebServer, PracticeAPI],
) -> None:
    srv, api = served
    seen: set[str] = set()
    for _ in range(40):
        r = _deal(srv)
        truth = api.truth_of(r["id"])
        assert truth is not None
        wrong = "surprise" if truth == "fear" else "fear"
        status, fb = _answer(srv, r["id"], truth if len(seen) % 2 else wrong)
        assert status == 200, fb
        assert {"correct", "emotion", "action_units", "explanation"} <= set(fb)
        assert fb["emotion"] == truth and fb["label"] == "ground truth"
        assert fb["action_units"] and all(a["name"] and a["au"] for a in fb["action_units"])
        assert fb["slip"]["onset_ms"] < fb["slip"]["offset_ms"] <= r["motion"]["t_ms"][-1]
        if truth == "fear" and not fb["correct"]:
            assert "pulls the brows together (AU4)" in fb["explanation"]  # the pair's contrast
        if truth == "happiness":
            assert any(a["name"] == "lip corner puller" for a in fb["action_units"])
            assert "mouth" in fb["regions"]
        seen.add(truth)
    assert len(seen) >= 6


BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("malformed JSON", b'{"id": "x", "answer": ', 400),
    ("not an object", b'["id", "answer", "person"]', 400),
    ("empty body", b"", 400),
    ("missing field", b'{"id": "ROUND", "answer": "fear"}', 400),
    ("unknown field", b'{"id": "ROUND", "answer": "fear", "person": "ann", "x": 1}', 400),
    ("answer not a string", b'{"id": "ROUND", "answer": 3, "person": "ann"}', 400),
    ("unknown answer", b'{"id": "ROUND", "answer": "boredom", "person": "ann"}', 400),
    ("bad person", b'{"id": "ROUND", "answer": "fear", "person": "<script>"}', 400),
    ("another person", b'{"id": "ROUND", "answer": "fear", "person": "bob"}', 409),
    ("unknown id", b'{"id": "nope", "answer": "fear", "person": "ann"}', 404),
    ("oversized body", b'{"id": "ROUND", "answer": "fear", "person": "ann", "pad": "'
     + b"x" * 5000 + b'"}', 413),
]  # fmt: skip
BAD_GETS: list[tuple[str, str, int]] = [
    ("GET", "/api/practice/next?deck=cards", 400),
    ("GET", "/api/practice/next?person=" + "x" * 41, 400),
    ("GET", "/api/practice/next?deck=builtin&deck=device", 400),
    ("GET", "/api/practice/next?deck=device", 404),  # no slips kept yet
    ("GET", "/api/practice/progress", 400),
    ("GET", "/api/practice/answer", 405),
    ("POST", "/api/practice/next", 405),
    ("GET", "/api/practice/nothing", 404),
    ("DELETE", "/api/practice/progress?person=ann", 405),
    ("HEAD", "/api/practice/next", 405),  # dealing is not a HEAD's business
]


def _snapshot(srv: WebServer) -> tuple[Any, bytes]:
    _, prog = _json(srv, "GET", "/api/practice/progress?person=ann")
    _, _, csv = _req(srv, "GET", "/api/practice/progress.csv?person=ann")
    return prog, csv


@pytest.mark.parametrize(("what", "body", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_answers_get_a_json_4xx_and_change_nothing(
    served: tuple[WebServer, PracticeAPI], what: str, body: bytes, code: int
) -> None:
    srv, api = served
    done = _deal(srv)
    assert _answer(srv, done["id"], "none")[0] == 200
    r = _deal(srv)
    before = _snapshot(srv)
    status, ctype, data = _req(
        srv, "POST", "/api/practice/answer", body.replace(b"ROUND", r["id"].encode())
    )
    assert status == code and ctype == "application/json", (what, status, data[:200])
    err = json.loads(data)
    assert err["status"] == code and err["error"]
    assert _snapshot(srv) == before
    # the round is still open: the right answer is still taken once
    truth = api.truth_of(r["id"])
    assert truth is not None
    assert _answer(srv, r["id"], truth)[1]["correct"] is True


def test_an_answer_is_scored_once(served: tuple[WebServer, PracticeAPI]) -> None:
    srv, _ = served
    r = _deal(srv)
    assert _answer(srv, r["id"], "fear")[0] == 200
    before = _snapshot(srv)
    status, err = _answer(srv, r["id"], "surprise")
    assert status == 409 and "already answered" in err["error"]
    assert _snapshot(srv) == before


@pytest.mark.parametrize(("method", "path", "code"), BAD_GETS)
def test_bad_api_requests(
    served: tuple[WebServer, PracticeAPI], method: str, path: str, code: int
) -> None:
    srv, _ = served
    before = _snapshot(srv)
    status, ctype, data = _req(srv, method, path)
    assert status == code and ctype == "application/json"
    assert json.loads(data)["error"] if method != "HEAD" else data == b""
    assert _snapshot(srv) == before


def test_a_body_without_length_is_refused(served: tuple[WebServer, PracticeAPI]) -> None:
    srv, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.putrequest("POST", "/api/practice/answer")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 411 and json.loads(r.read())["error"]
    conn.close()


def test_speed_ramps_after_a_run_and_a_miss_comes_back(
    served: tuple[WebServer, PracticeAPI],
) -> None:
    srv, api = served
    levels = []
    for _ in range(PROMOTE_RUN):
        r = _deal(srv)
        levels.append(r["level"]["index"])
        _, fb = _answer(srv, r["id"], str(api.truth_of(r["id"])))
    assert levels == [0] * PROMOTE_RUN and fb["level"]["changed"] == "up"
    r = _deal(srv)
    assert r["level"]["index"] == 1 and r["speed"] == LEVELS[1].speed
    # Miss an emotion: it is dealt again within three rounds (spaced repetition).
    while (truth := api.truth_of(r["id"])) not in EMOTIONS:
        _answer(srv, r["id"], "none")
        r = _deal(srv)
    assert truth is not None
    _answer(srv, r["id"], "none")
    again = []
    for _ in range(3):
        r = _deal(srv)
        again.append(api.truth_of(r["id"]))
        _answer(srv, r["id"], str(again[-1]))
    assert truth in again


def test_progress_and_csv_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "practice.db"
    api = PracticeAPI(Store(db), seed=1)
    for person, n in (("ann", PROMOTE_RUN + 2), ("bob", 3)):
        for _ in range(n):
            r = json.loads(api.handle("GET", "/api/practice/next", f"person={person}", None).body)
            body = {"id": r["id"], "answer": api.truth_of(r["id"]), "person": person}
            assert api.handle("POST", "/api/practice/answer", "", json.dumps(body).encode())
    first = json.loads(api.handle("GET", "/api/practice/progress", "person=ann", None).body)
    api.store.close()
    again = PracticeAPI(Store(db), seed=2)
    prog = json.loads(again.handle("GET", "/api/practice/progress", "person=ann", None).body)
    assert prog["decks"] == first["decks"]
    assert prog["decks"]["builtin"]["total"] == {"answers": 6, "correct": 6, "accuracy": 1.0}
    assert prog["decks"]["builtin"]["level"]["index"] == 1  # the ramp is rebuilt from answers
    r = json.loads(again.handle("GET", "/api/practice/next", "person=ann", None).body)
    assert r["level"]["index"] == 1
    csv = again.handle("GET", "/api/practice/progress.csv", "person=bob", None)
    assert csv is not None and csv.ctype.startswith("text/csv")
    lines = csv.body.decode().splitlines()
    assert lines[0].startswith("time,day,deck,kind,truth,answer,correct") and len(lines) == 4
    people = json.loads(again.handle("GET", "/api/practice/people", "", None).body)["people"]
    assert {p["person"] for p in people} == {"ann", "bob"}
    again.store.close()


def test_page_is_served_with_the_live_pages_csp(served: tuple[WebServer, PracticeAPI]) -> None:
    srv, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    for path in ("/practice", "/practice/practice.js", "/practice/practice.css"):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200 and body
        assert r.getheader("Content-Security-Policy", "").startswith("default-src 'self'")
        assert b"http://" not in body and b"https://" not in body  # nothing from a CDN
    conn.close()


def test_cli_serves_the_page_without_a_camera_and_stops_cleanly(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import urllib.request

    from tests.broker import free_port
    from tests.web_support import wait_for

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "practice", "--port", str(port),
         "--state-dir", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/practice", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        assert wait_for(up, timeout=30, step=0.2)
        url = f"http://127.0.0.1:{port}/api/practice/next?person=cli"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert json.loads(r.read())["deck"] == "builtin"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0 and f"127.0.0.1:{port}/practice" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert (tmp_path / "practice.db").is_file()


def test_unanswered_rounds_are_bounded(tmp_path: Path) -> None:
    api = PracticeAPI(Store(tmp_path / "practice.db"), seed=2, max_pending=8)
    ids = []
    for _ in range(12):
        reply = api.handle("GET", "/api/practice/next", "person=ann", None)
        assert reply is not None
        ids.append(json.loads(reply.body)["id"])
    assert api.truth_of(ids[0]) is None and api.truth_of(ids[-1]) is not None
    body = json.dumps({"id": ids[0], "answer": "none", "person": "ann"}).encode()
    late = api.handle("POST", "/api/practice/answer", "", body)
    assert late is not None and late.status == 404  # the oldest was let go
    api.store.close()
