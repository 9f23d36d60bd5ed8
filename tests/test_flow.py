"""Region optical flow on the aligned crop (edge.brain.flow) and how the spotter takes it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.brain.features import FEATURE_NAMES, FRAME_NAMES
from edge.brain.flow import (
    FLOW_NAMES,
    LAG_S,
    MAX_RATE_HZ,
    N_FLOW,
    UNIT,
    FlowStage,
    FlowTracker,
    _centre_median,
    _windows,
    cached_flow,
    crop_transform,
    region_flow,
)
from edge.brain.spotting import Spotter
from edge.errors import ModelError
from edge.types import AUFrame

MS = 1_000_000


def texture(seed: int = 0) -> np.ndarray:
    """A smooth random 64x64 grey texture (flow needs structure to follow)."""
    rng = np.random.default_rng(seed)
    big = cv2.resize(rng.integers(0, 255, (16, 16)).astype(np.float32), (64, 64))
    return np.clip(big + rng.normal(0, 4, big.shape), 0, 255).astype(np.uint8)


def moved_region(img: np.ndarray, channel: str, dy: float) -> np.ndarray:
    """``img`` with the neighbourhood of one channel's point shifted down by ``dy`` px."""
    rows, cols, _ = _windows()[FLOW_NAMES.index(channel)]
    cy, cx = (rows.start + rows.stop) / 2, (cols.start + cols.stop) / 2
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    bump = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 5.0**2))
    return cv2.remap(img, xx, yy - dy * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_names_follow_the_geometric_features() -> None:
    assert len(FLOW_NAMES) == N_FLOW == 21 and len(set(FLOW_NAMES)) == 21
    assert FRAME_NAMES == FEATURE_NAMES + FLOW_NAMES


def test_a_still_crop_has_no_flow_and_a_moving_brow_shows_where_it_moved() -> None:
    img = texture()
    assert np.abs(region_flow(img, img)).max() < 1e-2
    out = region_flow(img, moved_region(img, "FL_brow_in_R_y", 2.0))
    j = FLOW_NAMES.index("FL_brow_in_R_y")
    assert out[j] > 0.5 * 2.0 / UNIT  # down, in units of 0.05 inter-ocular distances
    far = [FLOW_NAMES.index(n) for n in ("FL_lip_lo_y", "FL_chin_y", "FL_corner_L_y")]
    assert np.abs(out[far]).max() < 0.2 * out[j]
    # moving the whole crop is what the alignment did not remove: the median takes it out
    shifted = np.roll(img, 1, axis=0)
    assert np.abs(region_flow(img, shifted)[j]) < 0.25


def test_the_tracker_compares_with_the_crop_lag_seconds_back() -> None:
    img, moved = texture(1), moved_region(texture(1), "FL_lip_lo_y", 2.0)
    tr = FlowTracker(max_rate_hz=1000.0)  # a flow every frame: the lag alone is tested here
    period = 33 * MS
    lag_frames = int(round(LAG_S * 1e9 / period))
    outs = [tr.push(i * period, img) for i in range(lag_frames)]
    assert not np.any(outs[: lag_frames - 1])  # no reference old enough yet
    j = FLOW_NAMES.index("FL_lip_lo_y")
    assert tr.push(lag_frames * period, moved)[j] > 0.5
    assert not tr.push((lag_frames + 1) * period, None).any()  # no crop: no flow, no harm
    # a long gap leaves no reference near LAG_S back: zeros, not a flow across the gap
    assert not tr.push(10 * 10**9, moved).any()


def test_the_stage_crops_through_the_appearance_transform() -> None:
    from edge.brain.appearance import assess
    from edge.brain.au_geometry import canonical_face

    lm = canonical_face().astype(np.float32) * 120 + np.array([320, 200, 0], np.float32)
    for face in (lm, lm * 0.2, np.where(np.arange(len(lm))[:, None] == 33, np.nan, lm)):
        assert np.array_equal(crop_transform(face), assess(face, 1.0, 640, 400)[1])


def test_cached_flow_is_the_tracker_frame_by_frame() -> None:
    crops = np.stack([texture(2)] * 10 + [moved_region(texture(2), "FL_chin_y", 2.0)] * 10)
    t = np.arange(20, dtype=np.int64) * 40 * MS
    usable = np.ones(20, bool)
    usable[5] = False
    tr = FlowTracker()
    want = np.stack(
        [tr.push(int(ti), c if u else None) for ti, c, u in zip(t, crops, usable, strict=True)]
    )
    assert np.array_equal(cached_flow(crops, t, usable), want)
    assert want[:, FLOW_NAMES.index("FL_chin_y")].max() > 0.3


@pytest.mark.slow
def test_the_stage_reads_a_real_face_still_at_rest(pyfeat_dir: Path, face_models: Path) -> None:
    from edge.face.tracker import FaceTracker
    from edge.sources import open_source

    tracker, stage = FaceTracker(mesh="468", max_faces=1, models_dir=face_models), FlowStage()
    rows = []
    with open_source(str(pyfeat_dir / "single_face.mp4")) as src:
        for frame in src:
            rows.append(stage.observe(frame, tracker.process(frame)).get(1))
    got = [r for r in rows if r is not None]
    assert stage.frames == len(got) >= 60
    flow = np.stack(got)
    n_ref = int(LAG_S * 24)  # 24 fps clip: no reference in the first ~0.4 s
    assert not flow[: n_ref - 1].any() and flow[n_ref + 1 :].any()
    # neutral for the first 15 frames, then the smile: the mouth corners rise (flow up < 0)
    corners = [FLOW_NAMES.index("FL_corner_R_y"), FLOW_NAMES.index("FL_corner_L_y")]
    assert flow[16:36, corners].mean(1).min() < -0.5 and np.abs(flow[: n_ref + 4]).max() < 0.5
    stage.end_track(1)


def _frames(names: tuple[str, ...], n: int = 60) -> list[AUFrame]:
    return [AUFrame(i * 33 * MS, 1, np.zeros(len(names), np.float32), names) for i in range(n)]


def test_the_spotter_maps_model_inputs_by_name() -> None:
    sp = Spotter("d")
    for f in _frames(FRAME_NAMES) + _frames(FEATURE_NAMES):  # either layout is taken
        sp.push(AUFrame(f.t_ns, f.track_id, f.values, f.names))
    assert sp.bad_frames == 0
    wants_flow = any(n in FLOW_NAMES for n in sp.meta.features)
    assert sp.uses_flow == wants_flow
    no_au12 = tuple(n for n in FRAME_NAMES if not n.startswith("AU12"))
    with pytest.raises(ModelError, match="AU12"):
        Spotter("d").push(_frames(no_au12, 1)[0])


def test_a_fast_camera_gets_at_most_max_rate_flows_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import edge.brain.flow as flow

    calls = []

    def counted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        calls.append(1)
        return region_flow(a, b)

    monkeypatch.setattr(flow, "region_flow", counted)
    tr, img = FlowTracker(), texture(3)
    period = 1_000_000_000 // 60
    outs = [tr.push(i * period, moved_region(img, "FL_chin_y", 0.05 * i)) for i in range(120)]
    with_flow = sum(1 for o in outs if o.any())
    seconds = with_flow / 60
    assert with_flow >= 90 and len(calls) <= MAX_RATE_HZ * seconds + 1  # held in between
    assert len(calls) >= 0.8 * MAX_RATE_HZ * seconds
    assert np.array_equal(outs[-1], outs[-2]) or np.array_equal(outs[-2], outs[-3])


def test_centre_median_is_numpys_median() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        fl = rng.normal(0, 2, (64, 64, 2)).astype(np.float32)
        centre = fl[8:56, 8:56]
        want = [np.median(centre[..., 0]), np.median(centre[..., 1])]
        np.testing.assert_array_equal(_centre_median(fl), np.array(want, np.float32))
