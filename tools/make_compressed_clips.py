"""Build time-compressed real expressions: a real smile squeezed into 150-450 ms of neutral video.

From single_face.mp4 and its annotation it keeps the smile's real onset->apex frames and its
real release->offset frames (dropping the held plateau, and in the "fast" variant every other
rising/falling frame), and sets them inside real neutral footage (the clip's neutral frames
played back and forth). Every frame in the output is a real camera frame; only their order
and the time between onset and offset change. Deterministic: same input, same output.

    python tools/make_compressed_clips.py [OUT_DIR]     # default <cache>/compressed

Writes ``compressed_smiles.mp4`` (three micro smiles, ~13 s, 30 fps) and
``compressed_neutral.mp4`` (10 s of neutral footage only) with ``<clip>.json`` annotations
(microslip-annotations/1, kind micro, emotion happiness).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.evaluation.annotations import (
    ClipAnnotation,
    Segment,
    load_annotation,
    save_annotation,
)
from edge.evaluation.clips import frame_times_ms
from edge.runtime.downloads import cache_dir, pyfeat_data_dir

ANNOTATIONS = Path(__file__).resolve().parents[1] / "annotations"
SOURCE_CLIP = "single_face.mp4"
NEUTRAL_GAP_S = 3.0


@dataclass(frozen=True)
class Variant:
    """How one smile is compressed: step through the rise/fall, frames kept at the apex."""

    name: str
    step: int
    hold: int


VARIANTS = (Variant("full", 1, 0), Variant("fast", 2, 0), Variant("hold", 1, 3))


def smile_frames(seg: Segment, v: Variant) -> tuple[list[int], int]:
    """Source frames of one compressed smile and the index (in that list) of its apex."""
    assert seg.onset_frame is not None and seg.apex_frame is not None
    assert seg.offset_frame is not None
    release = seg.release_frame if seg.release_frame is not None else seg.offset_frame
    rise = list(range(seg.onset_frame, seg.apex_frame, v.step)) + [seg.apex_frame]
    hold = list(range(seg.apex_frame + 1, seg.apex_frame + 1 + v.hold))
    fall = list(range(release, seg.offset_frame, v.step)) + [seg.offset_frame]
    return rise + hold + fall, len(rise) - 1


def neutral_walk(neutral: list[int], start: int, n: int, direction: int) -> list[int]:
    """``n`` frames walking back and forth over the neutral frames, from ``start``."""
    out, i, d = [], neutral.index(start), direction
    for _ in range(n):
        out.append(neutral[i])
        if not 0 <= i + d < len(neutral):
            d = -d
        i += d
    return out


def read_frames(path: Path) -> list[np.ndarray]:
    """All decoded BGR frames of a clip."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """Encode frames as MPEG-4 part 2 (in every OpenCV wheel; deterministic)."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    for f in frames:
        writer.write(f)
    writer.release()


def _annotate(path: Path, src: ClipAnnotation, order: list[int],
              smiles: list[tuple[int, int, int, str]], fps: float) -> ClipAnnotation:  # fmt: skip
    times = frame_times_ms(path)
    if len(times) != len(order):
        raise RuntimeError(f"{path}: wrote {len(order)} frames, decoded {len(times)}")

    def ns(i: int) -> int:
        return round(times[i] * 1e6)

    segments = tuple(
        Segment(kind="micro", onset_ns=ns(a), apex_ns=ns(b), offset_ns=ns(c), emotion="happiness",
                action_units=("AU6", "AU12", "AU25"), onset_frame=a, apex_frame=b, offset_frame=c,
                note=f"{SOURCE_CLIP} frames {order[a]}..{order[c]}, variant {name}: "
                     + " ".join(str(order[i]) for i in range(a, c + 1)))
        for a, b, c, name in smiles
    )  # fmt: skip
    return ClipAnnotation(
        clip=path.name,
        fps=fps,
        frames=len(order),
        duration_ns=round(len(order) * 1e9 / fps),
        segments=segments,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        source=f"tools/make_compressed_clips.py from {SOURCE_CLIP} (sha256 {src.sha256[:12]}...)",
        method="time-compressed real expression; every frame is a real frame of the source",
        extra={"source_frames": order},
    )


def build(out: Path) -> list[Path]:
    """Write the compressed clips and their annotations into ``out``; return the clip paths."""
    out.mkdir(parents=True, exist_ok=True)
    src = load_annotation(ANNOTATIONS / f"{SOURCE_CLIP}.json")
    (smile,) = [s for s in src.expressions if s.emotion == "happiness"]
    assert smile.onset_frame is not None
    neutral = list(range(0, smile.onset_frame))  # annotated neutral, no blink in it
    frames = read_frames(pyfeat_data_dir() / SOURCE_CLIP)
    fps = src.fps
    gap = round(NEUTRAL_GAP_S * fps)
    last_neutral = neutral[-1]

    order: list[int] = neutral_walk(neutral, last_neutral, gap, -1)[::-1]
    smiles: list[tuple[int, int, int, str]] = []
    for v in VARIANTS:
        kept, apex = smile_frames(smile, v)
        start = len(order)
        order += kept
        smiles.append((start, start + apex, start + len(kept) - 1, v.name))
        # Back to neutral where the smile began (the frame before its onset), and walk so
        # that the gap ends on that frame again, right before the next smile's onset.
        order += neutral_walk(neutral, last_neutral, gap - gap % (2 * len(neutral) - 2), -1)
        order.append(last_neutral)
    paths = []
    smiles_path = out / "compressed_smiles.mp4"
    write_clip(smiles_path, [frames[i] for i in order], fps)
    save_annotation(_annotate(smiles_path, src, order, smiles, fps), f"{smiles_path}.json")
    paths.append(smiles_path)

    calm = neutral_walk(neutral, neutral[0], round(10 * fps), 1)
    neutral_path = out / "compressed_neutral.mp4"
    write_clip(neutral_path, [frames[i] for i in calm], fps)
    save_annotation(_annotate(neutral_path, src, calm, [], fps), f"{neutral_path}.json")
    paths.append(neutral_path)
    return paths


def main() -> None:
    """Command line entry."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else cache_dir() / "compressed"
    for p in build(out):
        print(p)


if __name__ == "__main__":
    main()
