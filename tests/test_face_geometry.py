"""ROI geometry, anchors and NMS of the face stage (pure numpy, no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.face.detector import Detection, ssd_anchors, suppress, tile_rois, weighted_nms
from edge.face.geometry import Roi, crop_matrix, normalize_radians, roi_from_landmarks, roll
from edge.face.tracks import Track, drop_duplicates, new_face_rois


def _map(m: np.ndarray, u: float, v: float) -> tuple[float, float]:
    x, y = m @ np.array([u, v, 1.0])
    return float(x), float(y)


def test_crop_matrix_maps_tensor_corners_to_the_rotated_square() -> None:
    roi = Roi(100.0, 50.0, 40.0, math.pi / 2)
    m = crop_matrix(roi, 192, 192)
    assert _map(m, 96, 96) == pytest.approx((100.0, 50.0))
    # Rotated by +90 degrees (y down): the tensor's x axis runs along the image's +y.
    assert _map(m, 192, 96) == pytest.approx((100.0, 70.0))
    assert _map(m, 0, 0) == pytest.approx((120.0, 30.0))


def test_roll_is_zero_for_level_eyes_and_follows_a_tilted_head() -> None:
    a = np.array([10.0, 10.0], np.float32)
    assert roll(a, np.array([30.0, 10.0], np.float32)) == pytest.approx(0.0)
    # Right-hand point lower in the image (y down): the head leans clockwise on screen.
    assert roll(a, np.array([30.0, 30.0], np.float32)) == pytest.approx(math.pi / 4)
    assert normalize_radians(3 * math.pi) == pytest.approx(-math.pi)


def test_roi_from_landmarks_squares_and_enlarges_their_box() -> None:
    pts = np.zeros((468, 3), np.float32)
    pts[:, 0] = np.linspace(100, 200, 468)
    pts[:, 1] = np.linspace(50, 110, 468)
    pts[33, :2] = (120, 80)
    pts[263, :2] = (180, 80)
    roi = roi_from_landmarks(pts)
    assert (roi.cx, roi.cy, roi.size, roi.rotation) == pytest.approx((150, 80, 150, 0))


def test_anchors_match_blazeface_short_range_layout() -> None:
    a = ssd_anchors()
    assert a.shape == (896, 2)
    assert a[0].tolist() == a[1].tolist() == pytest.approx([1 / 32, 1 / 32])
    assert a[512].tolist() == pytest.approx([1 / 16, 1 / 16])  # first 8x8 cell, 6 anchors
    assert a[-1].tolist() == pytest.approx([15 / 16, 15 / 16])


def test_weighted_nms_averages_a_cluster_and_keeps_separate_faces() -> None:
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    kps[1] += 10.0
    out = weighted_nms(scores, boxes, kps, 0.3)
    assert [d.score for d in out] == pytest.approx([0.9, 0.8])
    assert out[0].box[0] == pytest.approx(0.6 * 2 / 1.5)  # score-weighted mean x0
    assert float(out[0].keypoints[0, 0]) == pytest.approx(0.6 * 10 / 1.5)
    assert out[1].box == pytest.approx((50, 50, 60, 60))


def test_suppress_keeps_the_better_of_two_passes_on_one_face() -> None:
    kp = np.zeros((6, 2), np.float32)
    a = Detection(0.7, (0, 0, 10, 10), kp)
    b = Detection(0.9, (1, 1, 11, 11), kp)
    c = Detection(0.5, (40, 40, 50, 50), kp)
    assert suppress([a, b, c], 0.3) == [b, c]


def test_tiles_cover_the_whole_image_with_overlap() -> None:
    tiles = tile_rois(1000, 667)
    assert len(tiles) == 4
    x0 = min(t.cx - t.size / 2 for t in tiles)
    x1 = max(t.cx + t.size / 2 for t in tiles)
    assert (x0, x1) == pytest.approx((0, 1000))
    left, right = tiles[0].box(), tiles[1].box()
    assert left[2] - right[0] >= 0.3 * tiles[0].size  # a face on the seam is whole in one


def _track(tid: int, x: float) -> Track:
    pts = np.zeros((468, 3), np.float32)
    pts[:, 0] = np.linspace(x, x + 50, 468)
    pts[:, 1] = np.linspace(0, 50, 468)
    return Track.open(tid, pts, 0.99)


def test_detections_of_tracked_faces_do_not_open_new_tracks() -> None:
    kp = np.array([[10, 20], [40, 20], [25, 30], [25, 40], [0, 20], [50, 20]], np.float32)
    tracked = _track(1, 0.0)
    same = Detection(0.9, (0, 0, 50, 50), kp)
    other = Detection(0.8, (300, 0, 350, 50), kp + [300, 0])
    rois = new_face_rois([same, other], [tracked.box()], room=3)
    assert len(rois) == 1 and rois[0].cx == pytest.approx(325)
    assert new_face_rois([same, other], [], room=1)[0].cx == pytest.approx(25)


def test_two_tracks_on_one_face_keep_the_older_id() -> None:
    kept, dropped = drop_duplicates([_track(7, 2.0), _track(3, 0.0), _track(9, 400.0)])
    assert [t.track_id for t in kept] == [3, 9]
    assert [t.track_id for t in dropped] == [7]
