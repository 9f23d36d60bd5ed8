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


def new_face_rois(dets: list[Detection], tracked: list[Roi], room: int) -> list[Roi]:
    """ROIs of detections that are not already tracked, best first, at most ``room``.

    Tracked ROIs win over detections of the same face, as in MediaPipe: the mesh-based
    ROI is more precise than a detector box.
    """
    out: list[Roi] = []
    taken = [r.box() for r in tracked]
    for det in sorted(dets, key=lambda d: -d.score):
        if len(out) >= room:
            break
        roi = roi_from_detection(det)
        if all(iou(roi.box(), t) <= SAME_FACE_IOU for t in taken):
            out.append(roi)
            taken.append(roi.box())
    return out


def drop_duplicates(tracks: list[Track]) -> tuple[list[Track], list[Track]]:
    """Split tracks into kept and dropped: of two on the same face the older id survives."""
    kept: list[Track] = []
    dropped: list[Track] = []
    for t in sorted(tracks, key=lambda t: t.track_id):
        box = t.box()
        if any(iou(box, k.box()) > SAME_FACE_IOU for k in kept):
            dropped.append(t)
        else:
            kept.append(t)
    return kept, dropped
