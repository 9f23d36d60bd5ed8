"""The frozen objects that flow between pipeline stages (see docs/architecture.md).

No stage hands a dict to the next; JSON exists only at the edges (files, MQTT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera/clip frame: ``t_ns`` is the sensor timestamp (clip time from 0 on a replay)."""

    index: int
    t_ns: int
    image: npt.NDArray[np.uint8]  # H x W x 3, RGB


@dataclass(frozen=True, slots=True)
class Face:
    """One tracked face in one frame; landmarks are image pixels (x, y) plus relative depth z."""

    track_id: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    landmarks: npt.NDArray[np.float32]  # N x 3
    presence: float  # 0..1, face-presence score of the mesh model


@dataclass(frozen=True, slots=True)
class FaceFrame:
    """All faces found in one frame: what the face stage hands to features and to --frames-out."""

    index: int
    t_ns: int
    faces: tuple[Face, ...]
    width: int = 0
    height: int = 0


@dataclass(frozen=True, slots=True)
class Appearance:
    """One appearance-classifier reading of one track (``edge.brain.appearance``).

    ``quality`` is ``"ok"`` when the face was classified, else why it was not (``too_small``,
    ``cut_by_edge``, ``implausible``, ``occluded``) and ``probs`` is None.
    """

    t_ns: int
    track_id: int
    quality: str
    probs: npt.NDArray[np.float32] | None  # 7, edge.brain.appearance.FER_LABELS order


@dataclass(frozen=True, slots=True)
class AUFrame:
    """Per-frame facial action features of one track, relative to its neutral baseline.

    ``appearance`` is the track's appearance reading of this frame when one was taken (the
    classifier runs at a reduced rate; recordings without pixels never have one).
    """

    t_ns: int
    track_id: int
    values: npt.NDArray[np.float32]  # K
    names: tuple[str, ...]  # K, shared tuple (do not copy per frame)
    appearance: Appearance | None = None
