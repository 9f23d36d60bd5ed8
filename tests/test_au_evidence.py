"""AU evidence: calibrated, jitter-aware action units and intensity (edge.brain.au_evidence)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.brain.au_evidence import (
    FULL_STRENGTH,
    MIN_STRENGTH,
    MIN_STRENGTH_BRIEF,
    AUCalibration,
    au_evidence,
    default_calibration,
    list_aus,
)
from edge.brain.au_geometry import AU_NAMES
from edge.brain.features import FEATURE_NAMES, FeatureExtractor
from edge.face.tracker import FaceTracker
from edge.sources import open_source
from edge.types import Frame

CAL = default_calibration()
N = len(FEATURE_NAMES)
DATA = Path(__file__).parents[1] / "edge" / "data" / "au_calibration.json"


def unit_au(channel: str) -> np.ndarray:
    """Feature-space change of one reference unit of the AU behind a direct ``channel``: its own
    proxy by 1/scale, every residual proxy by the reference's cross-talk. (The reference also
    moves other direct proxies, e.g. AU12 the AU6 proxy; those are not unmixed, see
    test_direct_cross_talk_is_not_unmixed.)"""
    i = CAL.channels.index(channel)
    v = np.zeros(N, np.float32)
    v[: len(AU_NAMES)] = np.where(CAL.direct, 0.0, CAL.cross[i])
    v[i] = 1.0 / CAL.scale[i]
    return v


def still(rng: np.random.Generator, n: int, gain: float = 1.0) -> np.ndarray:
    """Feature frames of a still face: Gaussian noise at the calibrated still jitter."""
    sd = np.zeros(N)
    sd[: len(AU_NAMES)] = CAL.jitter / CAL.scale
    return (rng.normal(0.0, 1.0, (n, N)) * sd * gain).astype(np.float32)


def slip(rng: np.random.Generator, peak: np.ndarray, n: int = 10) -> np.ndarray:
    """A rise-and-fall of ``peak`` over ``n`` frames on top of still-face noise."""
    shape = np.sin(np.linspace(0.0, np.pi, n))[:, None].astype(np.float32)
    return still(rng, n) + shape * peak


def happy(amp: float) -> np.ndarray:
    return amp * sum(unit_au(c) for c in ("AU6_L", "AU6_R", "AU12_L", "AU12_R"))


def test_calibration_table_matches_the_proxies() -> None:
    d = json.loads(DATA.read_text("utf-8"))
    assert tuple(d["channels"]) == AU_NAMES == CAL.channels
    assert d["reference"]["member"] == "feat/resources/au_to_mesh_pls_v4.npz"
    assert (CAL.scale > 0).all() and (CAL.jitter > 0).all()
    # the smile's own proxy is direct; the "dimpler" proxy moves more with AU12 than with AU14
    assert d["aus"]["AU12"]["tier"] == "direct" and d["aus"]["AU14"]["tier"] == "residual"
    assert d["response_bilateral"]["AU12"]["AU14"] > 2 * d["aus"]["AU14"]["self_response"]


@pytest.mark.parametrize("seed", range(20))
def test_still_face_lists_no_au(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ev = au_evidence(FEATURE_NAMES, still(rng, 12), still(rng, 15), "happiness")
    assert ev.action_units == () and ev.intensity == 0.0 and ev.partial


@pytest.mark.parametrize("seed", range(10))
def test_jitter_level_wiggles_are_not_listed(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    wiggle = np.zeros(N, np.float32)
    wiggle[: len(AU_NAMES)] = 2.0 * CAL.jitter / CAL.scale  # every AU at twice its jitter
    ev = au_evidence(FEATURE_NAMES, slip(rng, wiggle), still(rng, 15), "surprise")
    assert ev.action_units == ()


def test_a_calibrated_au12_rise_lists_au12_first_and_not_the_dimpler() -> None:
    rng = np.random.default_rng(7)
    peak = unit_au("AU12_L") + unit_au("AU12_R")
    ev = au_evidence(FEATURE_NAMES, slip(rng, peak), still(rng, 15), "happiness")
    names = [n for n, _ in ev.action_units]
    assert names[0] in ("AU12_L", "AU12_R") and set(names[:2]) == {"AU12_L", "AU12_R"}
    assert dict(ev.action_units)["AU12_L"] == pytest.approx(1.0, abs=0.15)
    assert not any(n.startswith("AU14") for n in names)  # explained by AU12, not listed
    assert ev.partial and ev.laterality == "both"  # AU6 did not move


def test_direct_cross_talk_is_not_unmixed() -> None:
    """Documented limit: the reference's AU12 moves the AU6 proxy at least 0.8 as far as a unit
    of AU6 does (its AU6 and AU12 are near collinear on these proxies, so unmixing them would
    be noise); with that cross-talk included both are listed at about one unit."""
    i = CAL.channels.index("AU12_L")
    j = CAL.channels.index("AU6_L")
    assert CAL.cross[i, j] * CAL.scale[j] >= 0.8


def test_one_sided_au12_is_lateral() -> None:
    rng = np.random.default_rng(8)
    ev = au_evidence(FEATURE_NAMES, slip(rng, unit_au("AU12_R")), still(rng, 15), "contempt")
    assert ev.action_units[0][0] == "AU12_R" and ev.laterality == "right"


def test_intensity_is_monotone_in_amplitude_and_at_most_one() -> None:
    values = []
    for amp in (0.0, 0.2, 0.4, 0.8, 1.2, 1.6, FULL_STRENGTH, 3.0, 5.0):
        rng = np.random.default_rng(11)
        ev = au_evidence(FEATURE_NAMES, slip(rng, happy(amp)), still(rng, 15), "happiness")
        values.append(ev.intensity)
    assert values == sorted(values) and all(0.0 <= v <= 1.0 for v in values)
    assert values[0] == 0.0 and values[-1] == 1.0
    assert values[3] == pytest.approx(0.8 / FULL_STRENGTH, abs=0.08)


def test_a_partial_prototype_is_not_full_intensity() -> None:
    rng = np.random.default_rng(12)
    peak = 3.0 * (unit_au("AU12_L") + unit_au("AU12_R"))  # strong AU12, no AU6
    ev = au_evidence(FEATURE_NAMES, slip(rng, peak), still(rng, 15), "happiness")
    assert ev.partial and ev.intensity == pytest.approx(0.5, abs=0.01)


def test_a_brief_slip_lists_a_rise_between_the_two_strength_bars() -> None:
    """A clear (z > 3.5) rise of 0.17 units: listed under the brief bar, not under the long one."""
    assert MIN_STRENGTH_BRIEF < 0.17 < MIN_STRENGTH
    # noiseless, so the rise is exact: the noise is the calibrated still jitter (AU12: 0.046)
    shape = np.sin(np.linspace(0.0, np.pi, 10))[:, None].astype(np.float32)
    frames = shape * 0.175 * (unit_au("AU12_L") + unit_au("AU12_R"))
    pre = np.zeros((15, N), np.float32)
    brief = list_aus(FEATURE_NAMES, frames, pre, min_strength=MIN_STRENGTH_BRIEF)
    long = list_aus(FEATURE_NAMES, frames, pre)
    rise = dict(zip(CAL.channels, brief.rise, strict=True))
    assert all(MIN_STRENGTH_BRIEF <= rise[c] < MIN_STRENGTH for c in ("AU12_L", "AU12_R"))
    assert {"AU12_L", "AU12_R"} <= set(dict(brief.action_units))
    assert not any(n.startswith("AU12") for n, _ in long.action_units)
    assert (brief.min_strength, long.min_strength) == (MIN_STRENGTH_BRIEF, MIN_STRENGTH)


def test_pre_onset_noise_raises_the_bar() -> None:
    rng = np.random.default_rng(13)
    peak = 0.4 * (unit_au("AU12_L") + unit_au("AU12_R"))
    quiet = au_evidence(FEATURE_NAMES, slip(rng, peak), still(rng, 15), "happiness")
    noisy = au_evidence(FEATURE_NAMES, slip(rng, peak), still(rng, 15, gain=6.0), "happiness")
    assert "AU12_L" in dict(quiet.action_units)
    assert "AU12_L" not in dict(noisy.action_units)


def test_other_calibrations_load_from_their_dict() -> None:
    d = json.loads(DATA.read_text("utf-8"))
    d["aus"]["AU12"]["still_jitter_calibrated"] = 10.0  # a hopelessly noisy AU12
    cal = AUCalibration.from_dict(d)
    rng = np.random.default_rng(14)
    peak = unit_au("AU12_L") + unit_au("AU12_R")
    ev = au_evidence(FEATURE_NAMES, slip(rng, peak), still(rng, 15), "happiness", cal)
    assert not any(n.startswith("AU12") for n, _ in ev.action_units)


def clip_features(clip: Path, models: Path, warp: bool = False) -> np.ndarray:
    """Features of a clip through the real tracker; ``warp``: rotated 30 degrees, half size,
    darkened to 40 % with sensor-like noise."""
    import cv2

    tracker, fx = FaceTracker(mesh="468", max_faces=1, models_dir=models), FeatureExtractor()
    rng = np.random.default_rng(0)
    rows = []
    with open_source(str(clip)) as src:
        for frame in src:
            if warp:
                h, w = frame.image.shape[:2]
                m = cv2.getRotationMatrix2D((w / 2, h / 2), 30.0, 0.5)
                img = cv2.warpAffine(frame.image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
                img = img.astype(np.float32) * 0.4 + rng.normal(0.0, 6.0, img.shape)
                frame = Frame(frame.index, frame.t_ns, np.clip(img, 0, 255).astype(np.uint8))
            # the geometric channels only (no flow stage here, so the rest are zeros)
            rows += [f.values[:N] for f in fx.update(tracker.process(frame))]
    return np.stack(rows)


@pytest.fixture(scope="module")
def smile_features(pyfeat_dir: Path, face_models: Path) -> np.ndarray:
    """Features of single_face.mp4 (neutral 0-15, smile from 16) through the real pipeline."""
    return clip_features(pyfeat_dir / "single_face.mp4", face_models)


@pytest.mark.slow
def test_real_smile_lists_au12_and_au6_on_top(smile_features: np.ndarray) -> None:
    f = smile_features
    assert len(f) == 72
    ev = au_evidence(FEATURE_NAMES, f[16:41], f[1:16], "happiness")
    top = {n.split("_")[0] for n, _ in ev.action_units[:4]}
    assert top == {"AU6", "AU12"}
    listed = dict(ev.action_units)
    assert "AU25" in listed  # the lips part
    assert not any(n.startswith(("AU14", "AU15", "AU24")) for n in listed)
    assert all(0.8 <= listed[c] <= 4.0 for c in ("AU6_L", "AU6_R", "AU12_L", "AU12_R"))
    assert ev.intensity >= 0.8 and not ev.partial and ev.laterality == "both"


@pytest.mark.slow
def test_real_smile_rotated_small_and_dark_keeps_au12_and_au6_on_top(
    pyfeat_dir: Path, face_models: Path
) -> None:
    f = clip_features(pyfeat_dir / "single_face.mp4", face_models, warp=True)
    assert len(f) == 72
    ev = au_evidence(FEATURE_NAMES, f[16:41], f[1:16], "happiness")
    assert {n.split("_")[0] for n, _ in ev.action_units[:4]} == {"AU6", "AU12"}
    assert au_evidence(FEATURE_NAMES, f[9:15], f[1:9], "happiness").action_units == ()


@pytest.mark.slow
def test_real_still_stretch_lists_nothing(smile_features: np.ndarray) -> None:
    f = smile_features
    ev = au_evidence(FEATURE_NAMES, f[9:15], f[1:9], "happiness")
    assert ev.action_units == ()


@pytest.mark.slow
def test_real_partial_onset_is_not_full_intensity(smile_features: np.ndarray) -> None:
    f = smile_features
    full = au_evidence(FEATURE_NAMES, f[16:41], f[1:16], "happiness")
    part = au_evidence(FEATURE_NAMES, f[16:18], f[1:16], "happiness")  # first 67 ms of the rise
    assert 0.0 < part.intensity < 0.5 * full.intensity


@pytest.mark.slow
def test_calibration_is_reproducible_from_the_reference(pyfeat_dir: Path) -> None:
    """The committed table is what training/calibrate_aus.py computes from py-feat's model for
    today's proxies: a proxy changed in au_geometry without recalibrating fails here."""
    from training.calibrate_aus import calibrate_aus, cross_talk, load_pls, responses

    coef, intercept, cols, digest = load_pls()
    resp = responses(coef, intercept, cols)
    table = calibrate_aus(resp, cols)
    d = json.loads(DATA.read_text("utf-8"))
    assert digest == d["reference"]["sha256"]
    for base, row in table.items():
        assert row["tier"] == d["aus"][base]["tier"], base
        assert row["scale"] == pytest.approx(d["aus"][base]["scale"], rel=1e-3), base
    rows = cross_talk(resp, table)
    assert rows.keys() == d["cross_talk"].keys()
    for name, row in rows.items():
        assert np.allclose(row, d["cross_talk"][name], atol=2e-3), name
