"""Features: pose normalisation, AU proxies on real landmark streams, the neutral baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.brain.au_geometry import AU_NAMES, canonical_face, fit_similarity, measure
from edge.brain.features import (
    FEATURE_NAMES,
    FRAME_NAMES,
    N_AU,
    FeatureExtractor,
    NeutralBaseline,
)
from edge.types import Face, FaceFrame

REF = Path(__file__).parents[1] / "training" / "data"


def rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation matrix from degrees (same convention as edge.brain.au_geometry.euler_deg)."""
    y, p, r = np.radians([yaw, pitch, roll])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rz @ ry @ rx


def stream(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.load(REF / f"{name}.npz")
    return d["t_ns"], d["landmarks"], d["present"]


def run_extractor(name: str) -> tuple[np.ndarray, np.ndarray]:
    t, lm, present = stream(name)
    fx = FeatureExtractor()
    ts, xs = [], []
    for i in np.flatnonzero(present):
        face = Face(1, (0.0, 0.0, 1.0, 1.0), lm[i], 1.0)
        for au in fx.update(FaceFrame(int(i), int(t[i]), (face,))):
            ts.append(au.t_ns)
            xs.append(au.values)
    return np.array(ts), np.stack(xs)


def test_canonical_face_is_upright_unit_iod() -> None:
    c = canonical_face()
    assert c.shape == (468, 3)
    assert np.linalg.norm(c[263] - c[33]) == pytest.approx(1.0, abs=1e-5)
    assert abs(c[263, 1] - c[33, 1]) < 1e-4  # eye line horizontal
    assert c[152, 1] > c[1, 1] > c[33, 1]  # chin below nose below eyes (y down)
    assert c[1, 2] < c[33, 2]  # nose tip nearer the camera than the eyes


def test_similarity_fit_recovers_transform() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 3))
    r = rot(20, -10, 5)
    dst = 3.5 * src @ r.T + np.array([10.0, -4.0, 2.0])
    s, r2, t = fit_similarity(src, dst)
    assert s == pytest.approx(3.5, rel=1e-9)
    np.testing.assert_allclose(r2, r, atol=1e-9)
    np.testing.assert_allclose(t, [10.0, -4.0, 2.0], atol=1e-9)


@pytest.mark.parametrize("pose", [(25, 0, 0), (0, -15, 0), (0, 0, 30), (-20, 10, -12)])
def test_head_pose_is_removed_and_measured(pose: tuple[float, float, float]) -> None:
    c = canonical_face()
    neutral, pose0 = measure(c * 200 + 300)
    moved = (c @ rot(*pose).T) * 150 + np.array([320.0, 240.0, 0.0])
    au, pose1 = measure(moved)
    np.testing.assert_allclose(au, neutral, atol=1e-3)
    np.testing.assert_allclose(pose0, 0.0, atol=1e-3)
    np.testing.assert_allclose(pose1, pose, atol=0.05)


def test_feature_names() -> None:
    assert FEATURE_NAMES[-3:] == ("yaw", "pitch", "roll")
    assert len(AU_NAMES) == N_AU == 31
    for au in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 20, 45):
        assert f"AU{au}_L" in AU_NAMES and f"AU{au}_R" in AU_NAMES
    for au in (17, 23, 24, 25, 26):
        assert f"AU{au}" in AU_NAMES


def test_real_smile_rises_above_neutral_jitter() -> None:
    # single_face.mp4: neutral for ~0.5 s, then a smile from ~0.6 s to the end (30 fps)
    t, x = run_extractor("single_face")
    i12 = [FEATURE_NAMES.index("AU12_L"), FEATURE_NAMES.index("AU12_R")]
    i6 = [FEATURE_NAMES.index("AU6_L"), FEATURE_NAMES.index("AU6_R")]
    smile = (t > 1.2e9) & (t < 2.0e9)
    neutral = t < 0.45e9
    assert x[smile][:, i12].mean() > 1.0
    assert x[smile][:, i6].mean() > 0.8
    assert np.abs(x[neutral][:, i12]).max() < 0.3
    # eyebrows do not take part in a smile
    i1 = FEATURE_NAMES.index("AU1_L")
    assert abs(x[smile][:, i1].mean()) < 0.35


def test_static_footage_jitter_is_small() -> None:
    # the face half of face_noface.mov holds still after ~1 s (it settles before that)
    _, x = run_extractor("face_noface")
    # frame-to-frame jitter (1.0 = a full-strength action): what a slip must rise above
    jitter = np.diff(x[30:, :N_AU], axis=0).std(0) / np.sqrt(2)
    assert np.median(jitter) < 0.08
    assert jitter.max() < 0.3


def test_baseline_freezes_during_expression_and_recovers() -> None:
    b = NeutralBaseline(tau_s=3.0, warmup_s=1.0, freeze_at=0.3, max_freeze_s=6.0)
    k = len(FEATURE_NAMES)
    dt = 33_333_333
    t = 0
    for _ in range(90):  # 3 s neutral
        b.update(t, np.zeros(k, np.float32))
        t += dt
    step = np.zeros(k, np.float32)
    step[FEATURE_NAMES.index("AU12_L")] = 0.8
    outs = []
    for _ in range(105):  # a 3.5 s expression is not absorbed
        outs.append(b.update(t, step)[FEATURE_NAMES.index("AU12_L")])
        t += dt
    assert b.frozen
    assert outs[-1] == pytest.approx(0.8, abs=1e-6)
    for _ in range(300):  # held for 10 s: it becomes the new neutral
        last = b.update(t, step)[FEATURE_NAMES.index("AU12_L")]
        t += dt
    assert not b.frozen
    assert abs(last) < 0.1


def test_bad_landmarks_are_skipped_and_tracks_forgotten() -> None:
    c = canonical_face().astype(np.float32) * 100 + 200
    bad = c.copy()
    bad[10, 0] = np.nan
    fx = FeatureExtractor()
    ok = fx.update(
        FaceFrame(0, 0, (Face(1, (0, 0, 1, 1), c, 1.0), Face(2, (0, 0, 1, 1), bad, 1.0)))
    )
    assert [a.track_id for a in ok] == [1]
    assert fx.skipped == 1
    assert ok[0].names is FRAME_NAMES and FRAME_NAMES[: len(FEATURE_NAMES)] == FEATURE_NAMES
    assert ok[0].values.dtype == np.float32 and ok[0].values.shape == (len(FRAME_NAMES),)
    assert not ok[0].values[len(FEATURE_NAMES) :].any()  # no flow given: zeros
    shifted = c.copy()
    shifted[[61, 291], 1] -= 8.0  # mouth corners up
    fx.update(FaceFrame(1, 33_000_000, (Face(1, (0, 0, 1, 1), shifted, 1.0),)))
    fx.end_track(1)
    again = fx.update(FaceFrame(2, 66_000_000, (Face(1, (0, 0, 1, 1), shifted, 1.0),)))
    np.testing.assert_array_equal(again[0].values, 0.0)  # a fresh baseline starts at zero


def test_blendshapes_see_the_real_smile(pyfeat_dir: Path, face_models: Path) -> None:
    from edge.face.blendshapes import NAMES, Blendshapes
    from edge.face.tracker import FaceTracker
    from edge.sources import open_source

    tracker = FaceTracker(mesh="478", max_faces=1, models_dir=face_models)
    bs = Blendshapes(models_dir=face_models)
    smile = [NAMES.index("mouthSmileLeft"), NAMES.index("mouthSmileRight")]
    got: dict[int, np.ndarray] = {}
    with open_source(str(pyfeat_dir / "single_face.mp4")) as src:
        for frame in src:
            ff = tracker.process(frame)
            if frame.index in (5, 45) and ff.faces:
                got[frame.index] = bs(ff.faces[0].landmarks)
            if frame.index >= 45:
                break
    assert set(got) == {5, 45}
    assert all(v.shape == (52,) and v.min() >= 0.0 and v.max() <= 1.0 for v in got.values())
    assert got[45][smile].mean() > got[5][smile].mean() + 0.4
