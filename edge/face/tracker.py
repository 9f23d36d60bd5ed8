"""FaceTracker: one Frame in, every tracked face out (BlazeFace + mesh + ROI tracking).

Each tracked face's ROI comes from its previous frame's landmarks, so the detector runs
only when nothing is tracked, or every ``detect_every`` frames while there is room for
more faces. A face whose mesh presence score falls below ``min_presence`` ends its track;
opening one needs ``min_open_presence``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.errors import ConfigError
from edge.face.detector import FaceDetector, tile_rois
from edge.face.geometry import Roi
from edge.face.landmarks import FaceMesh
from edge.face.tracks import Track, drop_duplicates, new_face_rois
from edge.sources.base import check_image
from edge.types import Face, FaceFrame, Frame

log = logging.getLogger(__name__)

STAGES = ("detect", "crop", "mesh", "track")


class FaceTracker:
    """Detects, meshes and tracks up to ``max_faces`` faces with stable track ids."""

    def __init__(
        self,
        mesh: str = "468",
        max_faces: int = 4,
        detect_every: int = 10,
        runtime: str | None = None,
        num_threads: int = 1,
        *,
        min_detection: float = 0.5,
        min_presence: float = 0.5,
        min_open_presence: float = 0.8,
        tiles_per_pass: int = 1,
        models_dir: Path | None = None,
    ) -> None:
        if max_faces < 1:
            raise ConfigError(f"max_faces must be at least 1, got {max_faces}")
        if detect_every < 1:
            raise ConfigError(f"detect_every must be at least 1, got {detect_every}")
        for name, value in (
            ("min_detection", min_detection),
            ("min_presence", min_presence),
            ("min_open_presence", min_open_presence),
        ):
            if not 0.0 < value < 1.0:
                raise ConfigError(f"{name} must lie strictly between 0 and 1, got {value}")
        self.mesh_name = mesh
        self.mesh = FaceMesh(mesh, num_threads=num_threads, runtime=runtime, models_dir=models_dir)
        self.detector = FaceDetector(
            min_score=min_detection, num_threads=num_threads, runtime=runtime, models_dir=models_dir
        )
        self.max_faces = max_faces
        self.detect_every = detect_every
        self.min_presence = min_presence
        # Hysteresis: opening a track asks for a clearly face-like mesh (real faces score
        # ~1.0, detector false positives on face-coloured shapes often 0.5-0.8), while a
        # tracked face survives down to min_presence, e.g. while it turns away.
        self.min_open_presence = max(min_open_presence, min_presence)
        # Small faces: each detection pass also scans this many of the overlapping tiles
        # (round robin), so the extra cost per frame stays bounded; 0 turns tiles off.
        self.tiles_per_pass = max(tiles_per_pass, 0)
        self._tile_cursor = 0
        self.stage_times: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.ended: tuple[int, ...] = ()
        self.detections = 0
        self._tracks: list[Track] = []
        self._next_id = 1
        self._since_detect = detect_every  # detect on the first frame

    @property
    def track_ids(self) -> tuple[int, ...]:
        """Ids of the faces currently tracked."""
        return tuple(t.track_id for t in self._tracks)

    def reset(self) -> tuple[int, ...]:
        """Forget every track (e.g. between clips); returns the ids that ended."""
        ended = self.track_ids
        self._tracks = []
        self._since_detect = self.detect_every
        self._tile_cursor = 0
        self.ended = ()
        return ended

    def process(self, frame: Frame) -> FaceFrame:
        """Track faces in one frame; ``ended`` then holds the track ids that ended here."""
        image = check_image(frame.image)
        t_start = time.perf_counter()
        crop = mesh = detect = 0.0
        ended: list[int] = []
        alive: list[Track] = []
        for track in self._tracks:
            res = self.mesh.run(image, track.roi)
            crop += self.mesh.crop_seconds
            mesh += self.mesh.mesh_seconds
            if res.presence < self.min_presence:
                ended.append(track.track_id)
                continue
            track.update(res.landmarks, res.presence)
            alive.append(track)

        self._since_detect += 1
        if len(alive) < self.max_faces and (not alive or self._since_detect >= self.detect_every):
            t0 = time.perf_counter()
            dets = self.detector.detect(image)
            if self.tiles_per_pass:
                dets = self.detector.detect_tiles(image, self._next_tiles(image), dets)
            self._since_detect = 0
            self.detections += 1
            detect = time.perf_counter() - t0
            for roi in new_face_rois(dets, [t.box() for t in alive], self.max_faces - len(alive)):
                res = self.mesh.run(image, roi)
                crop += self.mesh.crop_seconds
                mesh += self.mesh.mesh_seconds
                if res.presence < self.min_open_presence:
                    continue
                track = Track.open(self._next_id, res.landmarks, res.presence)
                self._next_id += 1
                alive.append(track)
                log.debug("track %d opened at frame %d", track.track_id, frame.index)

        kept, dropped = drop_duplicates(alive)
        # A track opened and merged away within this frame was never reported: not "ended".
        known = {t.track_id for t in self._tracks}
        ended += [t.track_id for t in dropped if t.track_id in known]
        self._tracks = kept
        self.ended = tuple(ended)
        for tid in ended:
            log.debug("track %d ended at frame %d", tid, frame.index)
        total = time.perf_counter() - t_start
        times = self.stage_times
        times["detect"], times["crop"], times["mesh"] = detect, crop, mesh
        times["track"] = max(total - detect - crop - mesh, 0.0)
        h, w = image.shape[:2]
        faces = tuple(
            Face(t.track_id, t.box(), t.landmarks, float(t.presence)) for t in self._tracks
        )
        return FaceFrame(frame.index, frame.t_ns, faces, w, h)

    def _next_tiles(self, image: npt.NDArray[np.uint8]) -> list[Roi]:
        tiles = tile_rois(image.shape[1], image.shape[0])
        n = min(self.tiles_per_pass, len(tiles))
        start = self._tile_cursor % len(tiles)
        self._tile_cursor = (start + n) % len(tiles)
        return [tiles[(start + k) % len(tiles)] for k in range(n)]
