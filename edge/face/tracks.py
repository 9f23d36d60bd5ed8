"""Track bookkeeping for the face stage: ids, ROIs carried between frames, association.

Pure numpy (no model), so the association rules are testable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.face.detector import Detection
from edge.face.geometry import (
    DETECTION_ROLL_POINTS,
    Roi,
    iou,
    landmark_bounds,
    roi_around,
    roi_from_landmarks,
    roll,
)

# A detection whose ROI overlaps a tracked face's ROI this much is that face (MediaPipe's
# AssociationNormRectCalculator threshold); two tracks overlapping this much are one face.
SAME_FACE_IOU = 0.5


@dataclass(slots=True)
class Track:
    """One face followed across frames: its id, latest mesh and the ROI for the next frame."""

    track_id: int
    landmarks: npt.NDArray[np.float32]
    presence: float
    roi: Roi
    bounds: tuple[float, float, float, float]
    frames: int = 1

    @classmethod
    def open(cls, track_id: int, landmarks: npt.NDArray[np.float32], presence: float) -> Track:
        """A new track from its first mesh."""
        bounds = landmark_bounds(landmarks)
        return cls(track_id, landmarks, presence, roi_from_landmarks(landmarks, bounds), bounds)

    def update(self, landmarks: npt.NDArray[np.float32], presence: float) -> None:
        """Take this frame's mesh and derive the next frame's ROI from it."""
        self.landmarks = landmarks
        self.presence = presence
        self.bounds = landmark_bounds(landmarks)
        self.roi = roi_from_landmarks(landmarks, self.bounds)
        self.frames += 1

    def box(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounding box of the landmarks, in pixels."""
        return self.bounds


def roi_from_detection(det: Detection) -> Roi:
    """Mesh ROI for a fresh detection: its box squared and enlarged, rolled by the eye line."""
    a, b = DETECTION_ROLL_POINTS
    return roi_around(*det.box, roll(det.keypoints[a], det.keypoints[b]))


def same_face(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two face boxes are one face: IoU above 0.5, or one's centre inside the other.

    The centre rule catches a detector box and a mesh box of one face that differ in
    extent (hair, chin) and overlap less than the IoU threshold.
    """
    return iou(a, b) > SAME_FACE_IOU or _centre_in(a, b) or _centre_in(b, a)


def new_face_rois(
    dets: list[Detection], tracked: list[tuple[float, float, float, float]], room: int
) -> list[Roi]:
    """ROIs of detections that are not already tracked faces (landmark boxes), best first.

    Tracked faces win over detections of the same face, as in MediaPipe: the mesh-based
    ROI is more precise than a detector box.
    """
    out: list[Roi] = []
    taken = list(tracked)
    for det in sorted(dets, key=lambda d: -d.score):
        if len(out) >= room:
            break
        if not any(same_face(det.box, t) for t in taken):
            out.append(roi_from_detection(det))
            taken.append(det.box)
    return out


def drop_duplicates(tracks: list[Track]) -> tuple[list[Track], list[Track]]:
    """Split tracks into kept and dropped: of two on the same face the older id survives."""
    kept: list[Track] = []
    dropped: list[Track] = []
    for t in sorted(tracks, key=lambda t: t.track_id):
        box = t.box()
        if any(same_face(box, k.box()) for k in kept):
            dropped.append(t)
        else:
            kept.append(t)
    return kept, dropped


def _centre_in(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    cx = (a[0] + a[2]) / 2
    cy = (a[1] + a[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]
