"""A person's progress as JSON: per deck, per emotion, per speed and per day."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.practice.coach import LEVELS
from edge.practice.store import Store


def _acc(n: int, ok: int) -> dict[str, Any]:
    return {"answers": n, "correct": ok, "accuracy": round(ok / n, 3) if n else None}


def progress(store: Store, person: str, levels: Mapping[str, int]) -> dict[str, Any]:
    """Counts and accuracy by deck, emotion, speed level and day; the current levels."""
    decks: dict[str, Any] = {}
    for deck, level in levels.items():
        decks[deck] = {
            "level": {"index": level, "name": LEVELS[level].name, "speed": LEVELS[level].speed},
            "total": [0, 0],
            "by_emotion": {},
            "by_speed": {},
            "days": {},
        }
    for day, deck, truth, level, _speed, n, ok in store.progress_rows(person):
        d = decks.get(deck)
        if d is None:
            continue
        name = LEVELS[level].name if 0 <= level < len(LEVELS) else str(level)
        d["total"][0] += n
        d["total"][1] += ok
        for bucket, key in ((d["by_emotion"], truth), (d["by_speed"], name)):
            bucket.setdefault(key, [0, 0])
            bucket[key][0] += n
            bucket[key][1] += ok
        day_d = d["days"].setdefault(day, {})
        day_d.setdefault(name, [0, 0])
        day_d[name][0] += n
        day_d[name][1] += ok
    for d in decks.values():
        d["total"] = _acc(*d["total"])
        d["by_emotion"] = {k: _acc(*v) for k, v in d["by_emotion"].items()}
        d["by_speed"] = {k: _acc(*v) for k, v in d["by_speed"].items()}
        d["days"] = [
            {"day": day, "by_speed": {k: _acc(*v) for k, v in per.items()},
             **_acc(sum(v[0] for v in per.values()), sum(v[1] for v in per.values()))}
            for day, per in sorted(d["days"].items())
        ]  # fmt: skip
    confusions = [
        {"deck": deck, "truth": t, "answer": a, "count": c}
        for deck, t, a, c in store.confusions(person)
    ]
    return {
        "person": person,
        "levels": [lv.name for lv in LEVELS],
        "decks": decks,
        "confusions": confusions[:12],
    }
