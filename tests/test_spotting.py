"""The spotter with the committed int8 model: slips found, nuisances ignored, bad input handled."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge.brain.au_evidence import (
    MIN_STRENGTH,
    MIN_STRENGTH_BRIEF,
    AUListing,
    default_calibration,
)
from edge.brain.features import FEATURE_NAMES, FeatureExtractor
from edge.brain.slips import emotion_shown, not_an_expression
from edge.brain.spotting import Spotter
from edge.events import EMOTIONS, event_to_dict, validate
from edge.types import AUFrame, Face, FaceFrame
from tests.broker import make_event
from training.generator import JITTER, _bump, signatures

REF = Path(__file__).parents[1] / "training" / "data"
SIG = signatures()
FIXED_NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def happy() -> np.ndarray:
    return SIG["AU12_L"] + SIG["AU12_R"] + SIG["AU6_L"] + SIG["AU6_R"]


def stream(
    fps: float,
    dur: float,
    parts: list[tuple[float, float, float, np.ndarray]] = (),  # type: ignore[assignment]
    seed: int = 0,
    jitter: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Native-rate features: jitter plus (onset s, rise s, fall s, peak signature) bumps."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * fps)) / fps
    x = rng.normal(0, 1, (len(t), len(FEATURE_NAMES))).astype(np.float32) * JITTER * jitter
    for on, rise, fall, sig in parts:
        x += _bump(t, on, on + rise, on + rise + fall)[:, None] * sig
    return np.round(t * 1e9).astype(np.int64), x.astype(np.float32)


def run(sp: Spotter, t: np.ndarray, x: np.ndarray, track: int = 1) -> list[tuple[int, object]]:
    """Push every frame; returns (t_ns of the push that returned it, event)."""
    out: list[tuple[int, object]] = []
    for ti, xi in zip(t, x, strict=True):
        out += [(int(ti), e) for e in sp.push(AUFrame(int(ti), track, xi, FEATURE_NAMES))]
    out += [(int(t[-1]), e) for e in sp.flush()]
    return out


@pytest.fixture(scope="module")
def spotter() -> Spotter:
    return Spotter("test-dev", clock=lambda: FIXED_NOW)


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    return max(0.0, inter) / (max(a[1], b[1]) - min(a[0], b[0]))


@pytest.mark.parametrize("fps", [30.0, 60.0, 90.0, 120.0])
def test_micro_smile_found_at_every_rate(spotter: Spotter, fps: float) -> None:
    t, x = stream(fps, 6.0, [(3.0, 0.15, 0.17, 0.6 * happy())], seed=int(fps))
    evs = [e for _, e in run(spotter, t, x)]
    assert len(evs) == 1
    ev = evs[0]
    assert ev.emotion == "happiness" and ev.type == "micro"  # type: ignore[attr-defined]
    assert iou((ev.onset_ns, ev.offset_ns), (3_000_000_000, 3_320_000_000)) >= 0.5  # type: ignore[attr-defined]
    assert ev.onset_ns <= ev.apex_ns <= ev.offset_ns  # type: ignore[attr-defined]
    aus = dict(ev.action_units)  # type: ignore[attr-defined]
    assert "AU12_L" in aus and "AU12_R" in aus
    assert ev.laterality == "both" and not ev.partial  # type: ignore[attr-defined]
    assert [n for n, _ in ev.scores] == list(EMOTIONS)  # type: ignore[attr-defined]
    assert sum(v for _, v in ev.scores) == pytest.approx(1.0, abs=1e-3)  # type: ignore[attr-defined]
    validate(event_to_dict(ev))  # type: ignore[arg-type]


def test_one_sided_contempt_is_found_with_its_side(spotter: Spotter) -> None:
    t, x = stream(30.0, 6.0, [(2.5, 0.12, 0.2, 0.7 * (SIG["AU12_R"] + SIG["AU14_R"]))], seed=3)
    evs = [e for _, e in run(spotter, t, x)]
    assert [(e.emotion, e.laterality) for e in evs] == [("contempt", "right")]  # type: ignore[attr-defined]


def test_partial_surprise_is_marked_partial(spotter: Spotter) -> None:
    brows = 0.8 * (SIG["AU1_L"] + SIG["AU1_R"] + SIG["AU2_L"] + SIG["AU2_R"])
    t, x = stream(60.0, 6.0, [(3.0, 0.12, 0.2, brows)], seed=4)
    evs = [e for _, e in run(spotter, t, x)]
    assert len(evs) == 1 and evs[0].emotion == "surprise" and evs[0].partial  # type: ignore[attr-defined]


def test_neutral_footage_and_blinks_are_not_slips(spotter: Spotter) -> None:
    blink = SIG["AU45_L"] + SIG["AU45_R"]
    parts = [(2.0 + 3.0 * k, 0.08, 0.16, blink * (0.7 + 0.03 * k)) for k in range(15)]
    t, x = stream(30.0, 48.0, parts, seed=5)
    assert run(spotter, t, x) == []


def test_event_leaves_within_250_ms_of_its_offset(spotter: Spotter) -> None:
    t, x = stream(60.0, 6.0, [(2.0, 0.1, 0.2, 0.7 * happy())], seed=6)
    out = run(spotter, t, x)
    assert len(out) == 1
    pushed_at, ev = out[0]
    assert 0 <= pushed_at - ev.offset_ns <= 250_000_000  # type: ignore[attr-defined]


def test_gap_during_a_micro_expression_drops_it_with_a_reason(
    spotter: Spotter, caplog: pytest.LogCaptureFixture
) -> None:
    t, x = stream(30.0, 6.0, [(3.0, 0.15, 0.2, 0.8 * happy())], seed=7)
    keep = (t < 3.2e9) | (t > 3.7e9)  # a 500 ms hole just after the apex
    with caplog.at_level(logging.INFO, logger="edge.brain.spotting"):
        evs = run(spotter, t[keep], x[keep])
    assert evs == []
    assert any(
        "gap in the stream" in r.getMessage() and "dropped" in r.getMessage()
        for r in caplog.records
    )


def test_lost_track_cuts_a_long_expression(
    spotter: Spotter, caplog: pytest.LogCaptureFixture
) -> None:
    t, x = stream(30.0, 6.0, [(2.0, 0.3, 0.3, 0.8 * happy())], seed=8)
    x[t >= 2.3e9] = 0.8 * happy()  # held smile: a macro-expression
    stop = t < 3.5e9
    out = []
    with caplog.at_level(logging.INFO, logger="edge.brain.spotting"):
        for ti, xi in zip(t[stop], x[stop], strict=True):
            out += spotter.push(AUFrame(int(ti), 9, xi, FEATURE_NAMES))
        out += spotter.end_track(9)
    assert [(e.type, e.emotion) for e in out] == [("macro", "happiness")]
    assert out[0].offset_ns <= int(t[stop][-1])
    assert any("track lost" in r.getMessage() for r in caplog.records)


def test_bad_frames_are_skipped_not_fatal() -> None:
    sp = Spotter("d")
    t, x = stream(30.0, 4.0, seed=9)
    x[40:45] = np.nan
    frames = [AUFrame(int(a), 1, b, FEATURE_NAMES) for a, b in zip(t, x, strict=True)]
    frames.insert(60, frames[59])  # repeated timestamp
    evs = [e for f in frames for e in sp.push(f)] + sp.flush()
    assert evs == [] and sp.bad_frames == 5


def test_low_frame_rate_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    sp = Spotter("d")
    t, x = stream(12.0, 4.0, seed=10)
    with caplog.at_level(logging.WARNING, logger="edge.brain.spotting"):
        run(sp, t, x)
    assert any("12.0 fps" in r.getMessage() for r in caplog.records)


def test_ids_are_unique_and_time_is_the_apex_wall_clock() -> None:
    sp = Spotter("d", clock=lambda: FIXED_NOW)
    parts = [(2.0 + 2.0 * k, 0.12, 0.18, 0.7 * happy()) for k in range(4)]
    t, x = stream(30.0, 11.0, parts, seed=11)
    out = run(sp, t, x)
    assert len(out) == 4
    assert len({e.id for _, e in out}) == 4  # type: ignore[attr-defined]
    for pushed_at, ev in out:
        want = FIXED_NOW - timedelta(microseconds=(pushed_at - ev.apex_ns) / 1e3)  # type: ignore[attr-defined]
        got = datetime.fromisoformat(ev.time.replace("Z", "+00:00"))  # type: ignore[attr-defined]
        assert abs((got - want).total_seconds()) < 0.002
        assert ev.models[0].name == "microevent" and len(ev.models[0].sha256) == 64  # type: ignore[attr-defined]


def test_real_smile_of_single_face_is_found_as_macro_happiness(spotter: Spotter) -> None:
    d = np.load(REF / "single_face.npz")
    fx = FeatureExtractor()
    evs = []
    for i in np.flatnonzero(d["present"]):
        face = Face(1, (0.0, 0.0, 1.0, 1.0), d["landmarks"][i], 1.0)
        for au in fx.update(FaceFrame(int(i), int(d["t_ns"][i]), (face,))):
            evs += spotter.push(au)
    evs += spotter.flush()
    assert [(e.emotion, e.type) for e in evs] == [("happiness", "macro")]
    assert 0.4e9 < evs[0].onset_ns < 0.8e9  # the smile starts at ~0.55 s


def test_tracks_are_independent(spotter: Spotter) -> None:
    t, quiet = stream(30.0, 6.0, seed=12)
    _, smiling = stream(30.0, 6.0, [(3.0, 0.12, 0.2, 0.7 * happy())], seed=13)
    out = []
    for ti, a, b in zip(t, quiet, smiling, strict=True):
        out += spotter.push(AUFrame(int(ti), 1, a, FEATURE_NAMES))
        out += spotter.push(AUFrame(int(ti), 2, b, FEATURE_NAMES))
    out += spotter.flush()
    assert [(e.track_id, e.emotion) for e in out] == [(2, "happiness")]


def test_an_overlong_expression_is_cut_once_not_repeated(
    spotter: Spotter, caplog: pytest.LogCaptureFixture
) -> None:
    t, x = stream(30.0, 12.0, [(1.5, 0.3, 0.3, 0.8 * happy())], seed=14)
    x[(t >= 1.8e9) & (t < 10.5e9)] += 0.8 * happy()  # held for ~9 s
    with caplog.at_level(logging.INFO, logger="edge.brain.spotting"):
        evs = [e for _, e in run(spotter, t, x)]
    onsets = [e.onset_ns for e in evs]
    assert 1 <= len(evs) <= 3 and len(set(onsets)) == len(onsets)
    assert all(e.type == "macro" and e.emotion == "happiness" for e in evs)
    assert evs[0].duration_ms <= 6100
    assert any("longer than" in r.getMessage() for r in caplog.records)


def test_resampler_interpolates_and_restarts_after_a_gap() -> None:
    from edge.brain.resample import resample_sequence

    t = np.round(np.arange(90) / 90.0 * 1e9).astype(np.int64)  # 1 s at 90 fps
    t = np.concatenate([t[:45], t[72:]])  # a 300 ms hole
    v = (t / 1e9).astype(np.float32)[:, None] * np.array([[1.0, -2.0]], np.float32)
    gt, gv, gap = resample_sequence(t, v, 30.0, max_gap_s=0.15)
    np.testing.assert_allclose(gv[:, 0], gt / 1e9, atol=1e-5)  # a ramp stays a ramp
    np.testing.assert_allclose(gv[:, 1], -2 * gt / 1e9, atol=1e-5)
    assert gap[0] and gap.sum() == 2  # the start and the restart after the hole
    d = np.diff(gt)
    assert ((np.abs(d - 33_333_333) <= 1) | (d > 150_000_000)).all()


def test_a_damaged_model_is_refused_naming_the_file_and_hashes(tmp_path: Path) -> None:
    from edge.brain.spotting import default_model_path
    from edge.errors import ModelError

    src = default_model_path()
    blob = bytearray(src.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte in the weights still loads as a model
    bad = tmp_path / "microevent.tflite"
    bad.write_bytes(bytes(blob))
    shutil.copyfile(src.with_suffix(".json"), bad.with_suffix(".json"))
    with pytest.raises(ModelError) as err:
        Spotter(model_path=bad)
    msg = str(err.value)
    expected = json.loads(src.with_suffix(".json").read_text())["sha256"]
    assert str(bad) in msg and expected in msg and hashlib.sha256(blob).hexdigest() in msg


def _listing(moved: dict[str, float]) -> AUListing:
    """A listing in which the named channels rose by the given z (strength 0.5 each)."""
    cal = default_calibration()
    z = np.array([moved.get(c, 0.5) for c in cal.channels])
    rise = np.where(z > 1.0, 0.5, 0.01)
    return AUListing((), rise, cal, z)


def test_an_interval_where_no_action_moved_or_only_the_lids_is_not_an_expression() -> None:
    ev = make_event(0, "d")
    assert not_an_expression(ev, _listing({})) == "no_action_unit"
    assert not_an_expression(ev, _listing({"AU45_L": 9.0, "AU45_R": 8.0})) == "blink_only"
    assert not_an_expression(ev, _listing({"AU12_L": 3.5})) is None
    assert not_an_expression(ev, _listing({"AU45_L": 9.0, "AU6_L": 3.5})) is None
    assert not_an_expression(ev, _listing({"AU12_L": 2.0})) == "no_action_unit"  # < 3x jitter
    assert not_an_expression(ev, _listing({"AU7_R": 6.0})) == "one_sided_twitch"
    assert not_an_expression(ev, _listing({"AU7_R": 6.0, "AU7_L": 4.0})) is None
    # the other side rose as much, only under the z bar: a weak two-sided action, not a twitch
    assert not_an_expression(ev, _listing({"AU7_R": 6.0, "AU7_L": 2.5})) is None
    assert not_an_expression(ev, _listing({"AU12_L": 6.0})) is None  # a smirk: contempt
    assert not_an_expression(ev, _listing({"AU4_R": 6.0, "AU15_R": 5.0})) is None


def test_an_event_whose_emotion_does_not_show_in_its_action_units_is_not_reported() -> None:
    fear = dataclasses.replace(make_event(0), emotion="fear")
    # a brief slip: one listed AU of the prototype is enough, but not the mouth opening alone
    assert emotion_shown(dataclasses.replace(fear, action_units=(("AU1_L", 0.4),)))
    assert not emotion_shown(dataclasses.replace(fear, action_units=(("AU26", 0.8),)))
    assert not emotion_shown(dataclasses.replace(fear, action_units=(("AU25", 0.5), ("AU26", 0.8))))
    assert not emotion_shown(dataclasses.replace(fear, action_units=(("AU12_L", 0.9),)))
    # a long expression must show a tenth of its prototype
    sad = dataclasses.replace(make_event(0), emotion="sadness", type="macro")
    assert not emotion_shown(dataclasses.replace(sad, intensity=0.05))
    assert emotion_shown(dataclasses.replace(sad, intensity=0.2))
    moved = _listing({"AU12_L": 6.0, "AU6_L": 5.0})
    smile_named_fear = dataclasses.replace(fear, action_units=(("AU12_L", 0.5), ("AU6_L", 0.5)))
    assert not_an_expression(smile_named_fear, moved) == "emotion_not_shown"
    assert not_an_expression(make_event(0), moved) is None  # the same AUs named happiness


def test_a_long_expression_shows_by_its_strongest_readable_prototype_au() -> None:
    # both brows lowered ~0.5 units: anger's AU5, AU7 and AU23 barely move the mesh, so the
    # share of the prototype shown (intensity) stays under the long-expression bar
    anger = dataclasses.replace(make_event(0), emotion="anger", type="macro", intensity=0.07)
    assert emotion_shown(
        dataclasses.replace(anger, action_units=(("AU4_L", 0.55), ("AU4_R", 0.46)))
    )
    assert not emotion_shown(dataclasses.replace(anger, action_units=(("AU4_L", 0.3),)))
    # the mouth opening and the dimpler (whose proxy follows it) are passed over; any other AU
    # ahead of the prototype's is not
    assert emotion_shown(dataclasses.replace(anger, action_units=(("AU26", 1.2), ("AU4_L", 0.5))))
    assert emotion_shown(dataclasses.replace(anger, action_units=(("AU14_R", 3.0), ("AU4_L", 0.5))))
    assert not emotion_shown(
        dataclasses.replace(anger, action_units=(("AU24", 0.8), ("AU4_L", 0.5)))
    )
    # a leaky proxy leading (AU15 of sadness) does not show it, the inner brow raise does
    sad = dataclasses.replace(anger, emotion="sadness")
    assert not emotion_shown(dataclasses.replace(sad, action_units=(("AU15_R", 0.6),)))
    assert emotion_shown(dataclasses.replace(sad, action_units=(("AU1_L", 0.6),)))


def test_a_weak_slip_shows_its_emotion_by_a_prototype_au_risen_under_the_listing_bar() -> None:
    fear = dataclasses.replace(make_event(0), emotion="fear", action_units=(("AU26", 0.8),))
    # AU1 (fear's brow raise) rose 3x its jitter: under the listing bar, over the shown bar
    assert emotion_shown(fear, _listing({"AU1_L": 3.0, "AU26": 6.0}))
    assert not_an_expression(fear, _listing({"AU1_L": 3.0, "AU26": 6.0})) is None
    # 2x is jitter; and the mouth opening of speech never shows an emotion, however far it rose
    assert not emotion_shown(fear, _listing({"AU1_L": 2.0, "AU26": 6.0}))
    assert not emotion_shown(fear, _listing({"AU26": 9.0, "AU25": 9.0}))
    # a non-prototype AU risen under the bar does not show fear either
    assert not emotion_shown(fear, _listing({"AU12_L": 3.0, "AU26": 6.0}))
    # without the listing only listed AUs count; and an event that lists no AU shows nothing
    assert not emotion_shown(fear)
    assert not emotion_shown(dataclasses.replace(fear, action_units=()), _listing({"AU1_L": 3.0}))


def test_the_moved_and_shown_bars_follow_the_listing_strength_bar() -> None:
    cal = default_calibration()
    rise = np.array([0.17 if c in ("AU12_L", "AU12_R") else 0.0 for c in cal.channels])
    z = np.where(rise > 0, 6.0, 0.5)
    brief = AUListing((("AU12_L", 0.17), ("AU12_R", 0.17)), rise, cal, z, MIN_STRENGTH_BRIEF)
    smile = make_event(0)  # happiness
    assert not_an_expression(smile, brief) is None
    # the same rises under a long expression's bar (MIN_STRENGTH) moved nothing
    long = dataclasses.replace(brief, min_strength=MIN_STRENGTH)
    assert not_an_expression(smile, long) == "no_action_unit"
