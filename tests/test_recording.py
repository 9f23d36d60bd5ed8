"""Landmark recordings: round trip, no pixels, and every kind of bad file handled clearly."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge.errors import SourceError
from edge.sources import open_source
from edge.sources.recording import FORMAT_NAME, LandmarkFileSource, RecordingWriter
from edge.types import Face, FaceFrame


def make_frames(n: int = 30, fps: float = 30.0, mesh: int = 468, seed: int = 0) -> list[FaceFrame]:
    """Face frames with one or two tracks and a frame without faces, like a real stream."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        faces = []
        for track in (1, 2) if i % 3 else (1,):
            lm = (rng.random((mesh, 3)) * [640, 360, 20]).astype(np.float32)
            box = (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), 300.5)
            faces.append(Face(track, box, lm, float(rng.random())))
        if i == 5:
            faces = []
        frames.append(FaceFrame(i, round(i * 1e9 / fps), tuple(faces), 640, 360))
    return frames


def write(path: Path, frames: list[FaceFrame], fps: float = 30.0, mesh: int = 468) -> Path:
    writer = RecordingWriter(path, fps=fps, width=640, height=360, source="test", mesh=mesh)
    for ff in frames:
        writer.add(ff)
    return writer.close(dropped=2, bad_frames=1)


def assert_same(a: FaceFrame, b: FaceFrame) -> None:
    assert (a.index, a.t_ns, a.width, a.height) == (b.index, b.t_ns, b.width, b.height)
    assert len(a.faces) == len(b.faces)
    for fa, fb in zip(a.faces, b.faces, strict=True):
        assert fa.track_id == fb.track_id
        assert fa.box == fb.box
        assert fa.presence == fb.presence
        assert fa.landmarks.dtype == fb.landmarks.dtype == np.float32
        assert np.array_equal(fa.landmarks, fb.landmarks)


@pytest.mark.parametrize("mesh", [468, 478])
def test_round_trip_is_exact(tmp_path: Path, mesh: int) -> None:
    frames = make_frames(mesh=mesh)
    path = write(tmp_path / "rec.npz", frames, mesh=mesh)
    with open_source(path) as src:
        assert isinstance(src, LandmarkFileSource)
        back = list(src)
        assert src.fps == 30.0 and src.mesh == mesh and src.frame_count == 30
        assert (src.width, src.height) == (640, 360)
        assert src.dropped == 0 and src.bad_frames == 0
        assert src.meta["dropped"] == 2 and src.meta["bad_frames"] == 1
        assert src.meta["source"] == "test"
    assert len(back) == len(frames)
    for a, b in zip(frames, back, strict=True):
        assert_same(a, b)


def test_recording_holds_no_pixels(tmp_path: Path) -> None:
    path = write(tmp_path / "rec.npz", make_frames(n=10))
    with np.load(path, allow_pickle=False) as npz:
        keys = set(npz.files)
        arrays = {k: npz[k] for k in keys}
    assert keys == {"meta", "t_ns", "index", "face_count", "track_id", "box", "presence",
                    "landmarks"}  # fmt: skip
    assert not any(a.dtype == np.uint8 for a in arrays.values())
    meta = json.loads(str(arrays["meta"]))
    assert meta["format"] == FORMAT_NAME and meta["frames"] == 10 and meta["mesh"] == 468


def test_gaps_in_a_recording_are_counted_as_dropped(tmp_path: Path) -> None:
    frames = [ff for ff in make_frames(n=30) if ff.index not in (10, 11, 20)]
    with LandmarkFileSource(write(tmp_path / "gaps.npz", frames)) as src:
        assert len(list(src)) == 27
        assert src.dropped == 3


def test_nan_landmarks_are_removed_and_counted(tmp_path: Path) -> None:
    frames = make_frames(n=12)
    bad = frames[4].faces[0]
    lm = bad.landmarks.copy()
    lm[17, 1] = np.nan
    frames[4] = FaceFrame(4, frames[4].t_ns, (Face(1, bad.box, lm, 0.9), *frames[4].faces[1:]))
    inf_box = frames[7].faces[1]
    frames[7] = FaceFrame(7, frames[7].t_ns, (frames[7].faces[0], Face(2, (0, 0, np.inf, 1),
                          inf_box.landmarks, 0.5)))  # fmt: skip
    with LandmarkFileSource(write(tmp_path / "nan.npz", frames)) as src:
        back = list(src)
        assert src.bad_frames == 2
    assert len(back) == 12
    assert [f.track_id for f in back[4].faces] == [2]
    assert [f.track_id for f in back[7].faces] == [1]
    assert all(np.isfinite(f.landmarks).all() for ff in back for f in ff.faces)


def test_out_of_order_frames_are_skipped_and_counted(tmp_path: Path) -> None:
    frames = make_frames(n=6)
    frames[3] = FaceFrame(3, frames[1].t_ns, frames[3].faces)
    with LandmarkFileSource(write(tmp_path / "ooo.npz", frames)) as src:
        back = list(src)
        assert src.bad_frames == 1
    assert [ff.index for ff in back] == [0, 1, 2, 4, 5]


def test_empty_recording_is_a_source_error(tmp_path: Path) -> None:
    path = RecordingWriter(tmp_path / "empty.npz", fps=30.0).close()
    with pytest.raises(SourceError, match="empty recording"):
        LandmarkFileSource(path)


def test_unwritable_output_fails_before_recording(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    with pytest.raises(SourceError, match="cannot write the recording"):
        RecordingWriter(blocker / "out.npz", fps=30.0)


def test_output_lost_during_recording_is_a_source_error(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    writer = RecordingWriter(sub / "out.npz", fps=30.0)
    writer.add(make_frames(n=1)[0])
    sub.rmdir()
    sub.write_text("the directory was replaced by a file")
    with pytest.raises(SourceError, match="out.npz: cannot write the recording"):
        writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


def test_recording_without_faces_replays(tmp_path: Path) -> None:
    frames = [FaceFrame(i, i * 33_333_333, ()) for i in range(5)]
    with LandmarkFileSource(write(tmp_path / "noface.npz", frames)) as src:
        assert [len(ff.faces) for ff in src] == [0] * 5


def test_truncated_or_junk_file_is_a_source_error(tmp_path: Path) -> None:
    good = write(tmp_path / "good.npz", make_frames(n=10)).read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    for path in (truncated, junk):
        with pytest.raises(SourceError, match=path.name):
            LandmarkFileSource(path)


def test_foreign_npz_is_a_source_error(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(SourceError, match="not a microslip recording"):
        LandmarkFileSource(foreign)


def test_inconsistent_arrays_are_a_source_error(tmp_path: Path) -> None:
    path = write(tmp_path / "rec.npz", make_frames(n=10))
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["face_count"] = arrays["face_count"] + 1  # claims more faces than stored
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    with pytest.raises(SourceError, match="inconsistent arrays"):
        LandmarkFileSource(broken)


def test_pickled_object_arrays_are_refused(tmp_path: Path) -> None:
    # allow_pickle=False: a recording can never execute code when loaded
    path = tmp_path / "pickled.npz"
    with zipfile.ZipFile(write(tmp_path / "rec.npz", make_frames(n=3))) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    evil = np.array([{"a": 1}], dtype=object)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            if name != "meta.npy":
                zf.writestr(name, data)
        with zf.open("meta.npy", "w") as fh:
            np.lib.format.write_array(fh, evil, allow_pickle=True)
    with pytest.raises(SourceError, match="pickled.npz"):
        LandmarkFileSource(path)
