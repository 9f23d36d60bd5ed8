"""Emotion fusion (temporal + appearance change + AU prototypes), long appearance episodes, the
event's evidence field, and the real clips end to end."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edge.brain.appearance import FER_LABELS
from edge.brain.episodes import LongExpressions
from edge.brain.fusion import AppearanceWindow, fuse, held, prototype_evidence, window
from edge.events import EMOTIONS, Evidence, ModelRef, SlipEvent, event_from_dict, event_to_dict
from edge.events.schema import validate
from edge.types import Appearance

UNIFORM = np.full(7, 1 / 7, np.float32)


def fer(**p: float) -> np.ndarray:
    """A fer probability vector: the given classes, the rest neutral."""
    v = np.zeros(7, np.float32)
    for k, x in p.items():
        v[FER_LABELS.index(k)] = x
    v[FER_LABELS.index("neutral")] = 1.0 - v.sum()
    return v


def test_a_subtle_change_towards_sad_decides_a_brief_slip() -> None:
    # absolute terms: mostly neutral; the change from the pre-onset frames is what counts
    app = AppearanceWindow(fer(sad=0.05), np.stack([fer(sad=0.05), fer(sad=0.3)]), None)
    temporal = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1], np.float32)  # leans happiness
    out = fuse(temporal, None, app, 300.0)
    assert out.emotion == "sadness"
    assert out.channels == ("temporal", "appearance") and out.fallback is None
    assert out.confidence == pytest.approx(float(out.scores.max()))
    assert out.scores.sum() == pytest.approx(1.0, abs=1e-5)
    # the same readings without a pre-onset reference count less, and a constant appearance
    # (no change) leaves the temporal model's choice
    flat = AppearanceWindow(fer(sad=0.3), np.stack([fer(sad=0.3)] * 2), None)
    assert fuse(temporal, None, flat, 300.0).emotion == "happiness"


def test_a_long_expression_is_decided_by_absolute_appearance() -> None:
    app = AppearanceWindow(None, np.stack([fer(sad=0.9)] * 30), None)
    happy_geometry = np.array([0.97, 0.005, 0.005, 0.005, 0.005, 0.005, 0.005], np.float32)
    au = np.array([1.0, 0.2, 0, 0, 0, 0, 0], np.float32)  # a crying mouth reads as a smile
    # the same evidence over 300 ms: the temporal model's call stands; over 4 s: appearance's
    assert fuse(happy_geometry, au, app, 300.0).emotion == "happiness"
    long = fuse(happy_geometry, au, app, 4000.0)
    assert long.emotion == "sadness" and long.confidence > 1 / 7


def test_a_long_expression_counts_against_how_the_face_looked_before() -> None:
    # a smiling photograph: fer reads happy before and during a long sad expression, sad rises
    app = AppearanceWindow(fer(happy=0.9, sad=0.01), np.stack([fer(happy=0.85, sad=0.1)] * 30),
                           None)  # fmt: skip
    temporal = np.array([0.2, 0.5, 0.06, 0.06, 0.06, 0.06, 0.06], np.float32)
    au = prototype_evidence([("AU1_L", 1.0), ("AU1_R", 1.0), ("AU15_L", 0.8), ("AU15_R", 0.8)])
    assert fuse(temporal, au, app, 3000.0).emotion == "sadness"
    # an appearance episode's own pieces, and a face with no earlier reading, count as seen
    assert fuse(temporal, au, app, 3000.0, relative_long=False).emotion == "happiness"
    arrived = dataclasses.replace(app, pre=None)
    assert fuse(temporal, au, arrived, 3000.0).emotion == "happiness"


def test_a_held_expression_counts_more_the_longer_it_is_seen() -> None:
    app = AppearanceWindow(None, np.stack([fer(sad=0.9)] * 30), None)
    temporal = np.array([0.97, 0.005, 0.005, 0.005, 0.005, 0.005, 0.005], np.float32)
    au = np.array([1.0, 0.2, 0, 0, 0, 0, 0], np.float32)
    sad = EMOTIONS.index("sadness")
    p = [float(fuse(temporal, au, app, ms).scores[sad]) for ms in (1500.0, 3000.0, 6000.0)]
    assert p[0] < p[1] < p[2] and p[2] > 0.5, p
    assert held(1000.0) == held(1500.0) == 1.0 and held(6000.0) == pytest.approx(4.0)


def test_contempt_stays_geometric() -> None:
    app = AppearanceWindow(fer(), np.stack([fer(happy=0.2)]), None)  # fer has no contempt
    temporal = np.array([0.2, 0.05, 0.05, 0.05, 0.05, 0.05, 0.55], np.float32)
    au = prototype_evidence([("AU12_L", 1.8), ("AU14_L", 1.6), ("AU14_R", 0.2)])
    assert au[EMOTIONS.index("contempt")] > 0.7
    assert fuse(temporal, au, app, 300.0).emotion == "contempt"


def test_without_pixels_the_fusion_falls_back_and_says_why() -> None:
    temporal = np.array([0.6, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05], np.float32)
    out = fuse(temporal, np.zeros(7, np.float32), None, 300.0)
    assert out.channels == ("temporal", "au") and out.fallback == "no_pixels"
    assert out.emotion == "happiness"
    skipped = [(t, None, "too_small") for t in range(0, 1_000, 100)]
    w = window(skipped, 200, 600)
    assert w.during is None and w.reason == "too_small"
    assert fuse(temporal, None, w, 400.0).fallback == "too_small"


def test_window_splits_pre_onset_and_during() -> None:
    ms = 1_000_000
    rs = [(t * ms, fer(sad=t / 3000), "ok") for t in range(0, 3000, 100)]
    w = window(rs, 2000 * ms, 2400 * ms)
    assert w.during is not None and len(w.during) == 5
    assert w.pre is not None  # 0.5-1.9 s: the mean of 15 readings
    assert w.pre[FER_LABELS.index("sad")] == pytest.approx(np.mean(np.arange(5, 20)) / 30)


def _slip(
    kind: str, emotion: str, on_s: float, off_s: float, conf: float = 0.9, intensity: float = 0.5
) -> SlipEvent:
    on, off = int(on_s * 1e9), int(off_s * 1e9)
    return SlipEvent("x", "d", 1, kind, emotion, conf, tuple((e, 1 / 7) for e in EMOTIONS),
                     on, on, off, intensity, (), "both", False, "2026-01-01T00:00:00Z")  # fmt: skip


def _feed(long: LongExpressions, probs: np.ndarray, t0: float, t1: float) -> list:
    spans = []
    for t in np.arange(t0, t1, 0.1):
        s, _ = long.observe(Appearance(int(t * 1e9), 1, "ok", probs))
        spans += s
    return spans


def test_fluctuations_inside_a_long_expression_are_absorbed_unless_clearly_different() -> None:
    long = LongExpressions()
    assert _feed(long, fer(sad=0.9), 0.0, 0.5) == []
    held = _slip("micro", "anger", 0.2, 0.45)
    assert long.offer(held) == []  # a candidate episode holds it back
    _feed(long, fer(sad=0.9), 0.5, 2.0)  # long, but no long expression from the slip model yet
    assert long.absorbed == 0
    # the temporal model reports a long expression inside it: it is crying, not a resting face
    assert long.offer(_slip("macro", "happiness", 0.1, 1.9)) == []
    assert long.absorbed == 2  # the macro (reported as the episode) and the held fluctuation
    assert long.offer(_slip("micro", "anger", 1.5, 1.8)) == []
    # a clearly different brief expression: fer's happy rises by 0.6 during it
    _feed(long, fer(happy=0.6, sad=0.3), 2.0, 2.3)
    keep = _slip("micro", "happiness", 2.0, 2.3)
    assert long.offer(keep) == [keep]
    spans = _feed(long, fer(), 2.3, 3.5)  # neutral again: the episode ends
    assert len(spans) == 1 and spans[0].emotion == "sadness"
    # it ends at its last supporting reading (1.9 s: the happy readings do not support it)
    assert spans[0].start_ns == 0 and spans[0].end_ns == pytest.approx(1.9e9, abs=1e6)
    # a slip after the episode, outside it, is not touched
    after = _slip("micro", "surprise", 3.0, 3.3)
    assert long.offer(after) == [after]


def test_a_different_slip_inside_a_long_expression_must_show_its_own_prototype() -> None:
    long = LongExpressions()
    _feed(long, fer(sad=0.9), 0.0, 2.0)
    assert long.offer(_slip("macro", "sadness", 0.1, 1.9)) == []  # crying, confirmed
    # fer reads fear rising inside the crying, which goes on (sad stays on top)
    _feed(long, fer(sad=0.5, fear=0.45), 2.0, 2.3)
    _feed(long, fer(sad=0.9), 2.3, 3.0)
    strong = _slip("micro", "fear", 2.0, 2.3)
    assert long.offer(strong) == [strong]
    weak = _slip("micro", "fear", 2.0, 2.3, intensity=0.05)  # its AUs barely moved
    assert long.offer(weak) == [] and long.absorbed == 2


def test_a_face_that_only_looks_sad_is_not_a_long_expression() -> None:
    long = LongExpressions(activity=lambda lo, hi: 0.0)  # the geometry never moves
    _feed(long, fer(sad=0.9), 0.0, 3.0)
    slip = _slip("micro", "anger", 2.0, 2.3)
    assert long.offer(slip) == [slip]  # a resting appearance holds nothing back
    assert _feed(long, fer(), 3.0, 4.0) == [] and long.absorbed == 0
    # without a macro from the temporal model, held slips come back and nothing is reported
    moving = LongExpressions()
    _feed(moving, fer(sad=0.9), 0.0, 2.0)
    slip = _slip("micro", "fear", 1.0, 1.3)
    assert moving.offer(slip) == []
    released = []
    for t in np.arange(2.0, 3.0, 0.1):
        spans, r = moving.observe(Appearance(int(t * 1e9), 1, "ok", fer()))
        assert spans == []
        released += r
    assert released == [slip]


def test_another_long_expression_on_a_resting_look_is_its_own() -> None:
    moving = {"now": False}
    long = LongExpressions(activity=lambda lo, hi: 1.0 if moving["now"] else 0.0)
    _feed(long, fer(happy=0.9), 0.0, 2.0)  # a face that looks happy at rest
    moving["now"] = True  # then it moves: a long sad expression fer does not see
    _feed(long, fer(happy=0.9), 2.0, 3.0)
    sad = _slip("macro", "sadness", 2.0, 4.5)
    assert long.offer(sad) == [sad]  # not absorbed into a "long happiness"
    brief = _slip("micro", "disgust", 5.0, 5.3)
    _feed(long, fer(happy=0.9), 3.0, 6.0)
    assert long.offer(brief) == []  # held while the episode might still prove long
    spans, released = long.close()
    assert spans == [] and released == [brief] and long.absorbed == 0
    # the same look that then laughs: the long expression is its own emotion's, as before
    moving["now"] = False
    laugh = LongExpressions(activity=lambda lo, hi: 1.0 if moving["now"] else 0.0)
    _feed(laugh, fer(happy=0.9), 0.0, 2.0)
    moving["now"] = True
    _feed(laugh, fer(happy=0.95), 2.0, 3.0)
    assert laugh.offer(_slip("macro", "happiness", 2.0, 2.9)) == []
    spans, _ = laugh.close()
    assert [s.emotion for s in spans] == ["happiness"]


def test_a_brief_run_releases_the_held_slips() -> None:
    long = LongExpressions()
    _feed(long, fer(happy=0.8), 0.0, 0.4)
    ev = _slip("micro", "happiness", 0.1, 0.3)
    assert long.offer(ev) == []
    released: list[SlipEvent] = []
    for t in np.arange(0.4, 1.5, 0.1):
        _, r = long.observe(Appearance(int(t * 1e9), 1, "ok", fer()))
        released += r
    assert released == [ev] and long.absorbed == 0


def test_evidence_round_trips_and_old_payloads_still_validate() -> None:
    ev = dataclasses.replace(
        _slip("micro", "sadness", 1.0, 1.3),
        models=(ModelRef("microevent", "a" * 64), ModelRef("fer_emotion", "b" * 64)),
        evidence=Evidence(("temporal", "au", "appearance")),
    )
    d = event_to_dict(ev)
    validate(d)
    assert d["evidence"] == {"channels": ["temporal", "au", "appearance"]}
    assert event_from_dict(d).evidence == ev.evidence
    geo = dataclasses.replace(ev, evidence=Evidence(("temporal", "au"), "cut_by_edge"))
    assert event_from_dict(event_to_dict(geo)).evidence == geo.evidence
    old = {k: v for k, v in d.items() if k != "evidence"}  # an older producer
    assert event_from_dict(old).evidence is None
    bad = dict(d, evidence={"channels": ["telepathy"]})
    with pytest.raises(Exception, match="evidence"):
        validate(bad)


@pytest.fixture(scope="module")
def replays(pyfeat_dir: Path, face_models: Path) -> dict[str, list[SlipEvent]]:
    """Events of a full replay (appearance on) of the real clips."""
    from edge.pipeline import Pipeline
    from edge.replay import replay
    from edge.sources.video import VideoFileSource

    out: dict[str, list[SlipEvent]] = {}
    for clip in ("single_face.mp4", "WolfgangLanger_Pexels.mp4"):
        events: list[SlipEvent] = []
        with VideoFileSource(pyfeat_dir / clip) as src:
            replay(src, Pipeline(device_id="t"), on_events=events.extend)
        out[clip] = events
    return out


def test_real_smile_is_happiness_resting_on_appearance(
    replays: dict[str, list[SlipEvent]],
) -> None:
    (ev,) = replays["single_face.mp4"]
    assert (ev.type, ev.emotion) == ("macro", "happiness") and ev.confidence > 0.8
    assert ev.evidence is not None and "appearance" in ev.evidence.channels
    assert [m.name for m in ev.models] == ["microevent", "fer_emotion"]


def test_crying_is_macro_sadness_and_the_laugh_happiness_without_micro_slips(
    replays: dict[str, list[SlipEvent]],
) -> None:
    # annotations/WolfgangLanger_Pexels.mp4.json: crying 0-5.9 s, laugh 9.4-19.6 s
    evs = replays["WolfgangLanger_Pexels.mp4"]
    cry = [e for e in evs if e.onset_ns < 5.9e9 and e.offset_ns > 0.5e9]
    laugh = [e for e in evs if e.onset_ns < 19.6e9 and e.offset_ns > 9.9e9]
    assert cry and all((e.type, e.emotion) == ("macro", "sadness") for e in cry)
    assert laugh and all((e.type, e.emotion) == ("macro", "happiness") for e in laugh)
    assert max(e.offset_ns - e.onset_ns for e in cry) > 4e9
