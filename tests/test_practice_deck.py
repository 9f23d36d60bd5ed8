"""Built-in deck, coach and the device's slips library (real SQLite, a real service loop)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest

from edge.events import EMOTIONS
from edge.events.motion import MESH_INDICES, Motion, motion_regions
from edge.practice import PracticeAPI, SlipLibrary, Store
from edge.practice.coach import LEVELS, Coach
from edge.practice.deck import CATCH_KINDS, build_builtin
from edge.practice.faces import SHAPES, face_fields
from edge.practice.facs import PROTOTYPES
from tests.broker import make_event

EXPECTED_REGION = {
    "happiness": "mouth", "sadness": "brows", "surprise": "brows", "fear": "brows",
    "anger": "brows", "disgust": "nose", "contempt": "mouth",
}  # fmt: skip


def test_builtin_deck_covers_all_emotions_catch_trials_shapes_and_timings() -> None:
    rng = np.random.default_rng(11)
    kinds: dict[str, set[str]] = {}
    shapes, durations, intensities = set(), [], []
    for k in range(420):
        truth = (*EMOTIONS, *CATCH_KINDS)[k % 9]
        level = LEVELS[k % 3]
        rnd = build_builtin(rng, truth, level.duration_ms, level.flash)
        card = rnd.card
        kinds.setdefault(card.truth, set()).add(card.kind)
        shapes.add(card.shape)
        m = Motion.from_dict(rnd.motion)
        assert 0 < rnd.onset_ms < rnd.offset_ms < m.t_ms[-1]
        if truth in EMOTIONS:
            durations.append(card.duration_ms)
            intensities.append(card.intensity)
            assert {a.split("_")[0] for a, _ in card.aus} <= set(PROTOTYPES[truth])
            assert EXPECTED_REGION[truth] in rnd.regions or card.kind == "partial", card
            if truth == "contempt":  # one-sided by nature
                assert all(a.endswith(("_L", "_R")) for a, _ in card.aus)
    assert set(kinds) == {*EMOTIONS, "none"}
    assert kinds["none"] == {"blink", "twitch"}
    for emo in ("sadness", "surprise", "fear", "anger", "disgust"):
        assert kinds[emo] == {"full", "partial"}, emo
    assert shapes == {s.name for s in SHAPES}
    assert 100 <= min(durations) < 150 and 450 < max(durations) <= 500  # micro timings
    assert min(intensities) < 0.4 and max(intensities) > 0.9  # subtle to full


def test_flash_level_holds_the_apex_inside_a_metty_flash() -> None:
    rng = np.random.default_rng(3)
    flash = LEVELS[-1]
    for _ in range(20):
        rnd = build_builtin(rng, "surprise", flash.duration_ms, flash.flash)
        m = Motion.from_dict(rnd.motion)
        t = np.asarray(m.t_ms)
        inside = t[(t >= rnd.onset_ms) & (t <= rnd.offset_ms)]
        assert 40 <= rnd.offset_ms - rnd.onset_ms <= 67 and len(inside) >= 4


def test_face_shapes_differ_and_keep_the_eye_frame() -> None:
    chins = []
    for s in SHAPES:
        f = face_fields(s.name)
        assert f.neutral.shape == (73, 2) and np.isfinite(f.neutral).all()
        eyes = f.neutral[[MESH_INDICES.index(33), MESH_INDICES.index(263)]]
        assert np.allclose(eyes, [[-0.5, 0.0], [0.5, 0.0]], atol=1e-3)
        chins.append(float(f.neutral[:, 1].max()))  # chin height in eye units
    assert len({round(c, 2) for c in chins}) == len(SHAPES)


def test_coach_climbs_on_a_run_drops_on_misses_and_repeats_confusions() -> None:
    c = Coach()
    for emo in ("fear", "anger", "happiness", "sadness"):
        c.record(emo, emo, True)
    assert c.level == 1
    c.record("fear", "surprise", False)
    assert "fear" in c.due and "surprise" in c.due  # the miss and what it was taken for
    rng = np.random.default_rng(0)
    c.record("anger", "anger", True)
    picks = [c.pick(rng, EMOTIONS, catch=False) for _ in range(1)]
    assert picks == ["fear"]
    for _ in range(3):
        c.record("disgust", "anger", False)
    assert c.level == 0


def _motion(au: str = "AU12", frames: int = 9) -> Motion:
    f = face_fields("canonical")
    ramp = np.sin(np.linspace(0, np.pi, frames))[:, None, None].astype(np.float32)
    pts = f.neutral[None] + ramp * f.field(au, "both")[None]
    q = np.round(pts * 500).astype(np.int16)
    return Motion(t_ms=tuple(int(v) for v in np.linspace(0, 300, frames)), points=q)


def test_library_is_bounded_by_count_and_age_and_cleared_by_the_cli(tmp_path: Path) -> None:
    from edge.cli import main

    store = Store(tmp_path / "practice.db")
    lib = SlipLibrary(store, max_count=5, max_age_s=3600)
    for i in range(9):
        lib.on_event(dataclasses.replace(make_event(i), motion=_motion()))
    lib.on_event(make_event(99))  # no motion: never kept
    macro = dataclasses.replace(make_event(98), type="macro", motion=_motion())
    assert not store.save_slip(macro, 5, 3600)  # a macro expression is not a slip to practise
    lib.close()
    again = Store(tmp_path / "practice.db")
    assert again.library_count() == 5
    kept = again.library_index()
    assert [i for i, _ in kept][-1].startswith("testdev-000008")
    time.sleep(0.05)
    new = dataclasses.replace(make_event(51), motion=_motion())
    assert again.save_slip(new, max_count=5, max_age_s=0.02)
    assert again.library_index() == [(new.id, new.emotion)]  # everything older than 20 ms went
    again.close()
    assert main(["practice", "--state-dir", str(tmp_path), "--clear"]) == 0
    assert Store(tmp_path / "practice.db").library_count() == 0


def test_device_deck_plays_kept_slips_as_model_guesses(tmp_path: Path) -> None:
    store = Store(tmp_path / "practice.db")
    ev = dataclasses.replace(make_event(0), emotion="fear", confidence=0.82, motion=_motion("AU26"))
    assert store.save_slip(ev, 10, 3600)
    api = PracticeAPI(store, seed=5)
    r = json.loads(api.handle("GET", "/api/practice/next", "deck=device&person=ann", None).body)
    assert r["deck"] == "device" and "guesses" in r["note"]
    m = Motion.from_dict(r["motion"])
    assert "mouth" in motion_regions(m)
    body = json.dumps({"id": r["id"], "answer": "surprise", "person": "ann"}).encode()
    fb = json.loads(api.handle("POST", "/api/practice/answer", "", body).body)
    assert fb["label"] == "model guess" and fb["confidence"] == pytest.approx(0.82)
    assert fb["explanation"].startswith("The device read this as fear, 0.82")
    prog = json.loads(api.handle("GET", "/api/practice/progress", "person=ann", None).body)
    assert prog["decks"]["device"]["total"]["answers"] == 1
    assert prog["decks"]["builtin"]["total"]["answers"] == 0  # scored apart
    store.close()
