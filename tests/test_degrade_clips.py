"""Degraded copies of annotated clips keep every frame and its truth; only the picture changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edge.evaluation.annotations import ClipAnnotation, Segment, load_annotation, save_annotation
from edge.evaluation.clips import frame_times_ms
from tools.degrade_clips import SMALL_SCALE, VARIANTS, degrade
from tools.make_compressed_clips import read_frames, write_clip

W, H, N, FPS = 160, 120, 20, 25.0


def _clip(tmp_path: Path) -> tuple[Path, Path]:
    """A 20-frame clip (a bright square drifting on a gradient) and its annotation."""
    frames = []
    for i in range(N):
        img = np.tile(np.linspace(40, 200, W, dtype=np.uint8), (H, 1))
        img[40:80, 20 + 4 * i : 60 + 4 * i] = 230
        frames.append(np.dstack([img] * 3))
    clip = tmp_path / "src.mp4"
    write_clip(clip, frames, FPS)
    times = frame_times_ms(clip)
    seg = Segment(
        kind="micro", emotion="happiness", onset_ns=round(times[5] * 1e6),
        apex_ns=round(times[8] * 1e6), offset_ns=round(times[11] * 1e6),
        onset_frame=5, apex_frame=8, offset_frame=11,
    )  # fmt: skip
    truth = tmp_path / "src.mp4.json"
    save_annotation(
        ClipAnnotation(
            clip="src.mp4", fps=FPS, frames=N, duration_ns=round(N * 1e9 / FPS),
            segments=(seg,), sha256=hashlib.sha256(clip.read_bytes()).hexdigest(),
        ),
        truth,
    )  # fmt: skip
    return clip, truth


def test_each_copy_keeps_the_frames_times_and_truth_of_its_source(tmp_path: Path) -> None:
    clip, truth = _clip(tmp_path)
    src = load_annotation(truth)
    out = degrade(clip, truth, tmp_path / "out")
    assert [p.name for p in out] == [f"src_{v}.mp4" for v in VARIANTS]
    original = read_frames(clip)
    for path in out:
        ann = load_annotation(Path(f"{path}.json"))
        assert ann.clip == path.name and ann.frames == N
        assert ann.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()  # eval's check holds
        (seg,) = ann.segments
        assert (seg.onset_frame, seg.offset_frame, seg.emotion) == (5, 11, "happiness")
        assert seg.onset_ns == src.segments[0].onset_ns
        assert seg.offset_ns == src.segments[0].offset_ns
        assert len(read_frames(path)) == N
        assert "degraded copy" in ann.method and "src.mp4" in ann.source
    dark = read_frames(out[0])
    assert np.mean(dark[0]) < 0.5 * np.mean(original[0])
    small = read_frames(out[1])
    assert small[0].shape[1] == round(W * SMALL_SCALE) // 2 * 2
    tilted = read_frames(out[2])
    assert tilted[0].shape == original[0].shape
    assert np.abs(tilted[0].astype(int) - original[0].astype(int)).mean() > 5  # it did rotate


def test_a_rebuild_is_byte_identical(tmp_path: Path) -> None:
    clip, truth = _clip(tmp_path)
    first = [p.read_bytes() for p in degrade(clip, truth, tmp_path / "a")]
    second = [p.read_bytes() for p in degrade(clip, truth, tmp_path / "b")]
    assert first == second
