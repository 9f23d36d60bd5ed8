"""The practice page's JSON API and static files, independent of any HTTP server.

``PracticeAPI.handle(method, path, query, body)`` returns a ``Reply`` (or None for a path
that is not the trainer's); ``edge.device.web`` routes to it, adding its headers and CSP.
A bad request gets a 4xx JSON ``{"error": ...}`` and changes nothing. See docs/practice.md.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import numpy as np

from edge.events import EMOTIONS
from edge.practice.coach import LEVELS, Coach, replay
from edge.practice.deck import Card, Round, build_builtin, build_device
from edge.practice.faces import SHAPES, face_fields
from edge.practice.facs import describe_aus, explain
from edge.practice.progress import progress
from edge.practice.store import Answer, Store

MAX_BODY = 4096  # an answer is under 200 bytes
ANSWERS: tuple[str, ...] = (*EMOTIONS, "none")
CHOICES: list[dict[str, str]] = [
    *({"key": str(k + 1), "emotion": e, "label": e} for k, e in enumerate(EMOTIONS)),
    {"key": "0", "emotion": "none", "label": "no slip / blink"},
]
DECKS = ("builtin", "device")
_PERSON = re.compile(r"^[\w][\w .'-]{0,39}$")
_STATIC = {
    "/practice": ("practice.html", "text/html; charset=utf-8"),
    "/practice/practice.js": ("practice.js", "text/javascript; charset=utf-8"),
    "/practice/practice.css": ("practice.css", "text/css; charset=utf-8"),
}


class Reply(NamedTuple):
    """An HTTP answer: status, content type, body."""

    status: int
    ctype: str
    body: bytes


class BadRequest(Exception):
    """A request the API refuses (status and message go back as JSON)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(data: Any, status: int = 200) -> Reply:
    return Reply(status, "application/json", json.dumps(data, separators=(",", ":")).encode())


def error(status: int, message: str) -> Reply:
    """The JSON error reply every refused request gets."""
    return _json({"error": message, "status": status}, status)


@dataclass
class _Pending:
    round: Round
    person: str
    level: int
    created: float


class PracticeAPI:
    """Deals rounds, scores answers, reports progress (thread-safe)."""

    max_body = MAX_BODY

    def __init__(
        self,
        store: Store,
        *,
        seed: int | None = None,
        max_pending: int = 256,
        pending_ttl_s: float = 3600.0,
    ) -> None:
        self.store = store
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._coaches: OrderedDict[tuple[str, str], Coach] = OrderedDict()
        self._max_pending = max_pending
        self._ttl = pending_ttl_s
        self._last_source: str | None = None
        for shape in SHAPES:  # build the AU fields now, not inside the first round's 50 ms
            face_fields(shape.name)

    # --- routing ---
    def handle(self, method: str, path: str, query: str, body: bytes | None) -> Reply | None:
        """Answer one request for the trainer's paths; None when the path is not ours."""
        if path in _STATIC:
            if method not in ("GET", "HEAD"):
                return error(405, f"{method} not allowed on {path}")
            name, ctype = _STATIC[path]
            # one joinpath per part: several arguments need Python 3.11
            static = resources.files("edge.practice").joinpath("static")
            return Reply(200, ctype, static.joinpath(name).read_bytes())
        if not path.startswith("/api/practice/"):
            return None
        route = {
            "/api/practice/next": ("GET", self._next),
            "/api/practice/answer": ("POST", self._answer),
            "/api/practice/progress": ("GET", self._progress),
            "/api/practice/progress.csv": ("GET", self._csv),
            "/api/practice/people": ("GET", self._people),
        }.get(path)
        if route is None:
            return error(404, f"no such API path: {path}")
        want, fn = route
        # HEAD only where GET has no effect (dealing a round is one).
        head_ok = want == "GET" and method == "HEAD" and path != "/api/practice/next"
        if method != want and not head_ok:
            return error(405, f"{path} takes {want}")
        try:
            return fn(_query(query), body)
        except BadRequest as exc:
            return error(exc.status, str(exc))

    # --- endpoints ---
    def _next(self, q: dict[str, str], _body: bytes | None) -> Reply:
        deck = q.get("deck", "builtin")
        if deck not in DECKS:
            raise BadRequest(400, f"deck must be one of {', '.join(DECKS)}")
        person = _person(q.get("person", "guest"))
        with self._lock:
            coach = self._coach(person, deck)
            level = coach.current
            rnd = self._deal(coach, deck)
            rid = secrets.token_urlsafe(9)
            self._expire()
            # Kept without its motion (a dealt round's motion is ~1 MB of Python ints): what
            # an answer needs is the card and where the slip was.
            kept = dataclasses.replace(rnd, motion={})
            self._pending[rid] = _Pending(kept, person, coach.level, time.monotonic())
        out = {
            "id": rid,
            "deck": deck,
            "person": person,
            "speed": level.speed,
            "level": {"index": coach.level, "name": level.name, "flash": level.flash},
            "motion": rnd.motion,
            "choices": CHOICES,
        }
        if deck == "device":
            out["note"] = "labels in this deck are the device's guesses, not ground truth"
        return _json(out)

    def _deal(self, coach: Coach, deck: str) -> Round:
        level = coach.current
        if deck == "builtin":
            truth = coach.pick(self._rng, EMOTIONS, catch=True)
            return build_builtin(self._rng, truth, level.duration_ms, level.flash)
        index = self.store.library_index()
        if not index:
            raise BadRequest(404, "this device has kept no slips yet ([events] include_motion)")
        emotions = tuple(e for e in EMOTIONS if any(x == e for _, x in index))
        truth = coach.pick(self._rng, emotions, catch=False)
        ids = [i for i, e in index if e == truth and i != self._last_source] or [
            i for i, e in index if e == truth
        ]
        slip = self.store.library_slip(str(self._rng.choice(ids)))
        if slip is None:  # pruned or cleared between the two reads
            raise BadRequest(409, "the library changed; ask again")
        self._last_source = slip.id
        card = Card(
            "device", slip.emotion, "device", slip.action_units, int(slip.motion.t_ms[-1]),
            max((v for _, v in slip.action_units), default=0.0), "device", "model guess",
            slip.confidence, slip.id,
        )  # fmt: skip
        return build_device(self._rng, card, slip.motion)

    def _answer(self, _q: dict[str, str], body: bytes | None) -> Reply:
        data = _parse_body(body)
        rid, answer, person = data["id"], data["answer"], _person(data["person"])
        if answer not in ANSWERS:
            raise BadRequest(400, f"answer must be one of {', '.join(ANSWERS)}")
        with self._lock:
            if rid in self._answered:
                raise BadRequest(409, "this round was already answered")
            p = self._pending.get(rid)
            if p is None:
                raise BadRequest(404, "unknown round id (expired or never dealt)")
            if p.person != person:
                raise BadRequest(409, f"this round was dealt to {p.person!r}")
            card, level = p.round.card, LEVELS[p.level]
            correct = answer == card.truth
            try:
                self.store.add_answer(
                    Answer(person, rid, card.deck, card.kind, card.truth, answer, correct,
                           p.level, level.speed, card.duration_ms, card.intensity, card.shape)
                )  # fmt: skip
            except sqlite3.IntegrityError as exc:  # scored by another process meanwhile
                raise BadRequest(409, "this round was already answered") from exc
            del self._pending[rid]
            self._answered[rid] = None
            while len(self._answered) > 4 * self._max_pending:
                self._answered.popitem(last=False)
            coach = self._coach(person, card.deck)
            before = coach.level
            coach.record(card.truth, answer, correct)
            after = coach.current
        return _json(self._feedback(p.round, answer, correct, before, coach.level, after.speed))

    def _feedback(
        self, rnd: Round, answer: str, correct: bool, before: int, now: int, speed: float
    ) -> dict[str, Any]:
        card = rnd.card
        aus = describe_aus(card.aus)
        if card.kind in ("blink", "twitch"):
            what = card.kind if card.kind == "blink" else "a one-sided twitch"
        elif card.kind == "device":
            what = f"a slip this device saw, {card.duration_ms} ms"
        else:
            strength = "subtle" if card.intensity < 0.55 else "clear"
            what = f"{card.kind}, {strength}, {card.duration_ms} ms"
        text = explain(card.truth, answer, aus, rnd.regions, what)
        out: dict[str, Any] = {
            "correct": correct,
            "emotion": card.truth,
            "action_units": aus,
            "explanation": text,
            "answer": answer,
            "kind": card.kind,
            "label": card.label,
            "regions": list(rnd.regions),
            "slip": {"onset_ms": rnd.onset_ms, "offset_ms": rnd.offset_ms},
            "duration_ms": card.duration_ms,
            "level": {"index": now, "name": LEVELS[now].name, "speed": speed,
                      "changed": "up" if now > before else "down" if now < before else None},
        }  # fmt: skip
        if card.deck == "device":
            conf = card.confidence or 0.0
            out["confidence"] = conf
            out["explanation"] = f"The device read this as {card.truth}, {conf:.2f} (a model " \
                f"guess, not ground truth). {text}"  # fmt: skip
        return out

    def _progress(self, q: dict[str, str], _body: bytes | None) -> Reply:
        person = _person(_required(q, "person"))
        with self._lock:
            levels = {d: self._coach(person, d).level for d in DECKS}
        data = progress(self.store, person, levels)
        data["library"] = {"slips": self.store.library_count()}
        return _json(data)

    def _csv(self, q: dict[str, str], _body: bytes | None) -> Reply:
        person = _person(_required(q, "person"))
        return Reply(200, "text/csv; charset=utf-8", self.store.csv(person).encode())

    def _people(self, _q: dict[str, str], _body: bytes | None) -> Reply:
        return _json({"people": self.store.people()})

    # --- state ---
    def _coach(self, person: str, deck: str) -> Coach:
        key = (person, deck)
        c = self._coaches.get(key)
        if c is None:
            c = self._coaches[key] = replay(self.store.history(person, deck))
            while len(self._coaches) > 64:
                self._coaches.popitem(last=False)
        self._coaches.move_to_end(key)
        return c

    def _expire(self) -> None:
        horizon = time.monotonic() - self._ttl
        while self._pending:
            rid, p = next(iter(self._pending.items()))
            if p.created >= horizon and len(self._pending) < self._max_pending:
                break
            del self._pending[rid]

    def close(self) -> None:
        """Close the store (the web server does when it stops)."""
        self.store.close()

    def truth_of(self, round_id: str) -> str | None:
        """The truth of a dealt, unanswered round (for tests and the benchmark's player)."""
        with self._lock:
            p = self._pending.get(round_id)
            return p.round.card.truth if p else None


def _query(query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise BadRequest(400, f"malformed query string: {exc}") from exc
    if any(len(v) > 1 for v in parsed.values()):
        raise BadRequest(400, "a query parameter is repeated")
    return {k: v[0] for k, v in parsed.items()}


def _required(q: dict[str, str], key: str) -> str:
    if key not in q:
        raise BadRequest(400, f"missing query parameter: {key}")
    return q[key]


def _person(name: Any) -> str:
    if not isinstance(name, str) or not _PERSON.match(name):
        raise BadRequest(400, "person must be 1-40 letters, digits, spaces or . _ ' -")
    return name


def _parse_body(body: bytes | None) -> dict[str, Any]:
    if not body:
        raise BadRequest(400, "the body must be a JSON object")
    if len(body) > MAX_BODY:
        raise BadRequest(413, f"body over {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest(400, "the body must be a JSON object")
    missing = sorted({"id", "answer", "person"} - set(data))
    extra = sorted(set(data) - {"id", "answer", "person"})
    if missing or extra:
        raise BadRequest(400, f"fields: missing {missing}, unknown {extra}")
    if not all(isinstance(data[k], str) for k in ("id", "answer", "person")):
        raise BadRequest(400, "id, answer and person must be strings")
    return data
