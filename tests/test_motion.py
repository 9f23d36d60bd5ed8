"""Slip motion: head motion is removed, the moving region is found, JSON round-trips, GIF/PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edge.errors import InputError
from edge.events.motion import (
    MAX_FRAMES,
    MESH_INDICES,
    N_POINTS,
    SCALE,
    Motion,
    MotionRecorder,
    build_motion,
    layout,
    motion_regions,
)
from edge.types import Face, FaceFrame
from edge.viz.animation import write_animation

FPS = 90.0
PERIOD_NS = int(1e9 / FPS)
MOUTH_CORNERS = (61, 291)


def _base_face() -> npt.NDArray[np.float32]:
    """A 468-point face with the subset points at plausible places (eyes 60 px apart)."""
    rng = np.random.default_rng(7)
    lm = np.zeros((468, 3), dtype=np.float32)
    lm[:, :2] = rng.uniform(280, 360, size=(468, 2))
    fixed = {33: (290, 300), 133: (310, 300), 362: (330, 300), 263: (350, 300), 168: (320, 295)}
    fixed |= {6: (320, 310), 61: (300, 360), 291: (340, 360)}
    for i, (x, y) in fixed.items():
        lm[i, :2] = (x, y)
    return lm


def _frames(n: int, smile_px: float) -> list[FaceFrame]:
    """Head rotates, scales and moves while the mouth corners rise by up to smile_px."""
    base = _base_face()
    out = []
    for k in range(n):
        a = k / (n - 1)
        lm = base.copy()
        for i in MOUTH_CORNERS:
            lm[i, 1] -= smile_px * np.sin(np.pi * a)  # up and back down
        ang, s, shift = 0.15 * a, 1.0 + 0.2 * a, np.array([40.0 * a, -25.0 * a])
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        lm[:, :2] = (s * (rot @ lm[:, :2].T)).T + shift
        face = Face(track_id=1, box=(0, 0, 1, 1), landmarks=lm, presence=1.0)
        out.append(FaceFrame(index=k, t_ns=k * PERIOD_NS, faces=(face,)))
    return out


def _record(frames: list[FaceFrame]) -> MotionRecorder:
    rec = MotionRecorder()
    for ff in frames:
        rec.observe(ff)
    return rec


def test_head_motion_is_removed_and_mouth_is_the_moving_region() -> None:
    frames = _frames(31, smile_px=6.0)
    motion = _record(frames).motion_for(1, frames[0].t_ns, frames[-1].t_ns)
    assert motion is not None
    assert len(motion.t_ms) <= MAX_FRAMES and motion.t_ms[0] == 0
    assert motion.t_ms[-1] == pytest.approx(30 * PERIOD_NS / 1e6, abs=1)
    assert motion_regions(motion) == ["mouth"]
    pts = motion.as_float()
    corner = MESH_INDICES.index(61)
    # 6 px of a 60 px eye span is 0.1 units; the middle frame carries the peak.
    rise = pts[0, corner, 1] - pts[:, corner, 1]
    assert rise.max() == pytest.approx(0.1, abs=0.01)
    eye = MESH_INDICES.index(133)
    assert np.abs(pts[:, eye] - pts[0, eye]).max() < 2 / SCALE


def test_json_round_trip_is_compact_and_exact() -> None:
    frames = _frames(20, smile_px=4.0)
    motion = _record(frames).motion_for(1, 0, frames[-1].t_ns)
    assert motion is not None
    d = json.loads(json.dumps(motion.to_dict()))
    back = Motion.from_dict(d)
    assert back.t_ms == motion.t_ms
    assert np.array_equal(back.points, motion.points)
    assert len(d["frames"][0]) == 2 * N_POINTS
    assert len(json.dumps(d)) < 12_000  # fits an MQTT event comfortably


def test_bad_motion_json_is_an_input_error() -> None:
    with pytest.raises(InputError):
        Motion.from_dict({"layout": "other", "scale": SCALE, "t_ms": [], "frames": []})
    with pytest.raises(InputError):
        Motion.from_dict(
            {"layout": layout()["layout"], "scale": SCALE, "t_ms": [0], "frames": [[1, 2]]}
        )


def test_no_motion_when_not_recorded_or_too_short() -> None:
    frames = _frames(10, smile_px=3.0)
    rec = _record(frames)
    assert rec.motion_for(2, 0, frames[-1].t_ns) is None  # unknown track
    assert rec.motion_for(1, frames[3].t_ns, frames[3].t_ns) is None  # a single frame
    assert build_motion([], [], 0) is None


def test_recorder_memory_is_bounded_by_its_window() -> None:
    rec = MotionRecorder(window_s=0.5)
    lm = _base_face()
    for k in range(2000):
        face = Face(track_id=k // 500, box=(0, 0, 1, 1), landmarks=lm, presence=1.0)
        rec.observe(FaceFrame(index=k, t_ns=k * PERIOD_NS, faces=(face,)))
    assert rec.buffered_frames() <= int(0.5 * FPS) + 1


def test_layout_covers_every_point_once() -> None:
    lay = layout()
    offsets = [p for part in lay["parts"] for p in part["points"]]
    assert offsets == list(range(N_POINTS)) and 60 <= N_POINTS <= 80
    assert {part["region"] for part in lay["parts"]} == set(lay["region_aus"])


@pytest.mark.parametrize("suffix", [".gif", ".png"])
def test_animation_files_decode_with_drawn_content(tmp_path: Path, suffix: str) -> None:
    from PIL import Image

    frames = _frames(25, smile_px=6.0)
    motion = _record(frames).motion_for(1, 0, frames[-1].t_ns)
    assert motion is not None
    out = tmp_path / f"slip{suffix}"
    write_animation(motion, str(out), title="happiness 0.8", aus=["AU12", "AU6"])
    with Image.open(out) as im:
        n = getattr(im, "n_frames", 1)
        assert n == (len(motion.t_ms) if suffix == ".gif" else 1)
        if suffix == ".gif":
            for k in (0, 1):
                im.seek(k)  # 1/10 speed: each delay is ten times the real step (10 ms units)
                step = motion.t_ms[k + 1] - motion.t_ms[k]
                assert abs(im.info["duration"] - 10 * step) <= 10
        px = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert px.std() > 5.0
    # Red strokes mark the moving region.
    red = (px[..., 0] > 180) & (px[..., 1] < 120) & (px[..., 2] < 120)
    assert red.sum() > 20


def test_animation_rejects_unknown_suffix(tmp_path: Path) -> None:
    frames = _frames(5, smile_px=6.0)
    motion = _record(frames).motion_for(1, 0, frames[-1].t_ns)
    assert motion is not None
    with pytest.raises(InputError):
        write_animation(motion, str(tmp_path / "x.mp4"))


def test_event_with_motion_validates_and_round_trips() -> None:
    import dataclasses

    from edge.events import (
        EMOTIONS,
        SlipEvent,
        event_from_json,
        event_to_dict,
        event_to_json,
        validate,
    )

    frames = _frames(31, smile_px=6.0)
    motion = _record(frames).motion_for(1, 0, frames[-1].t_ns)
    ev = SlipEvent(
        id="dev-1-0", device="dev", track_id=1, type="micro", emotion="happiness",
        confidence=0.8, scores=tuple((e, 0.8 if e == "happiness" else 0.0) for e in EMOTIONS),
        onset_ns=0, apex_ns=frames[15].t_ns, offset_ns=frames[-1].t_ns, intensity=0.4,
        action_units=(("AU12", 0.4),), laterality="both", partial=True,
        time="2026-01-01T00:00:00Z", motion=motion,
    )  # fmt: skip
    d = event_to_dict(ev)
    validate(d)
    back = event_from_json(event_to_json(ev))
    assert back.motion is not None and motion is not None
    assert np.array_equal(back.motion.points, motion.points)
    # Without motion the key is absent, and a tampered motion is rejected.
    assert "motion" not in event_to_dict(dataclasses.replace(ev, motion=None))
    d["motion"]["frames"][0] = d["motion"]["frames"][0][:-2]
    with pytest.raises(InputError):
        validate(d)


def test_long_expression_past_the_window_gets_no_motion() -> None:
    rec = MotionRecorder(window_s=0.2)
    frames = _frames(60, smile_px=6.0)  # 0.66 s at 90 fps
    for ff in frames:
        rec.observe(ff)
    assert rec.motion_for(1, 0, frames[-1].t_ns) is None
    assert rec.motion_for(1, frames[45].t_ns, frames[-1].t_ns) is not None


@pytest.mark.slow
def test_real_clip_smile_carries_mouth_motion() -> None:
    from edge.events import event_to_dict, validate
    from edge.pipeline import Pipeline
    from edge.replay import replay
    from edge.runtime.downloads import pyfeat_data_dir
    from edge.sources import open_source

    events: list[Any] = []
    with open_source(pyfeat_data_dir() / "single_face.mp4") as src:
        replay(src, Pipeline(device_id="m", include_motion=True), on_events=events.extend)
    smiles = [ev for ev in events if ev.emotion == "happiness"]
    assert smiles and all(ev.motion is not None for ev in smiles)
    motion = smiles[0].motion
    assert motion is not None and len(motion.t_ms) == MAX_FRAMES
    assert motion_regions(motion)[0] == "mouth"
    # Mouth corners rise (y decreases) in a smile, by a few percent of the eye span.
    pts = motion.as_float()
    corners = [MESH_INDICES.index(i) for i in MOUTH_CORNERS]
    assert (pts[0, corners, 1] - pts[:, corners, 1].min(axis=0)).min() > 0.03
    validate(event_to_dict(smiles[0]))
