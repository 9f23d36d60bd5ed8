"""Landmark recordings (``.npz``): timestamps, track ids, boxes and landmarks, never pixels.

Format (version 1; all arrays plain numpy, loadable with ``allow_pickle=False``), for F frames
holding M faces in total, N landmarks per face:

``meta``        0-d unicode array: JSON object (format, version, fps, width, height, source,
                mesh, frames, faces, dropped, bad_frames, microslip version, created)
``t_ns``        int64 (F,)   frame timestamps in ns (clip time from 0, or sensor clock)
``index``       int64 (F,)   frame index in the source
``face_count``  int32 (F,)   faces in each frame; faces are stored frame after frame
``track_id``    int32 (M,)
``box``         float64 (M, 4)  x0, y0, x1, y1 in pixels
``presence``    float64 (M,)    face-presence score 0..1
``landmarks``   float32 (M, N, 3)  x, y in pixels, z relative depth

Frames without faces are kept (``face_count`` 0) so replay sees the same timing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge import __version__
from edge.errors import SourceError
from edge.sources.base import FrameClock, SourceBase
from edge.types import Face, FaceFrame

log = logging.getLogger(__name__)

FORMAT_NAME = "microslip-landmarks"
FORMAT_VERSION = 1
_ARRAYS = ("t_ns", "index", "face_count", "track_id", "box", "presence", "landmarks")


class RecordingWriter:
    """Collects FaceFrames and writes them as one ``.npz`` recording on :meth:`close`."""

    def __init__(
        self,
        path: str | Path,
        fps: float,
        width: int = 0,
        height: int = 0,
        source: str = "",
        mesh: int = 468,
    ) -> None:
        """Prepare to record to ``path`` (written atomically on close)."""
        self.path = Path(path)
        self.meta: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "fps": float(fps),
            "width": int(width),
            "height": int(height),
            "source": source,
            "mesh": int(mesh),
        }
        self._t_ns: list[int] = []
        self._index: list[int] = []
        self._count: list[int] = []
        self._track: list[int] = []
        self._box: list[tuple[float, float, float, float]] = []
        self._presence: list[float] = []
        self._landmarks: list[npt.NDArray[np.float32]] = []
        # fail before capturing, not after: a camera session would be lost at close()
        tmp = self._tmp_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb"):
                pass
            tmp.unlink()
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot write the recording ({exc.strerror})") from exc

    def _tmp_path(self) -> Path:
        return self.path.with_name(self.path.name + ".part")

    @property
    def frames(self) -> int:
        """Frames added so far."""
        return len(self._t_ns)

    def add(self, face_frame: FaceFrame) -> None:
        """Append one frame (with or without faces)."""
        if face_frame.width and not self.meta["width"]:
            self.meta["width"], self.meta["height"] = face_frame.width, face_frame.height
        self._t_ns.append(face_frame.t_ns)
        self._index.append(face_frame.index)
        self._count.append(len(face_frame.faces))
        for face in face_frame.faces:
            if face.landmarks.shape[0] != self.meta["mesh"]:
                self.meta["mesh"] = int(face.landmarks.shape[0])
            self._track.append(face.track_id)
            self._box.append(face.box)
            self._presence.append(face.presence)
            self._landmarks.append(face.landmarks)

    def close(self, dropped: int = 0, bad_frames: int = 0) -> Path:
        """Write the file (temp file + rename, so a crash never leaves half a recording)."""
        n = int(self.meta["mesh"])
        meta = dict(
            self.meta,
            frames=len(self._t_ns),
            faces=len(self._track),
            dropped=int(dropped),
            bad_frames=int(bad_frames),
            microslip=__version__,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        arrays: dict[str, npt.NDArray[Any]] = {
            "meta": np.array(json.dumps(meta)),
            "t_ns": np.array(self._t_ns, dtype=np.int64),
            "index": np.array(self._index, dtype=np.int64),
            "face_count": np.array(self._count, dtype=np.int32),
            "track_id": np.array(self._track, dtype=np.int32),
            "box": np.array(self._box, dtype=np.float64).reshape(-1, 4),
            "presence": np.array(self._presence, dtype=np.float64),
            "landmarks": (
                np.stack(self._landmarks).astype(np.float32, copy=False)
                if self._landmarks
                else np.zeros((0, n, 3), np.float32)
            ),
        }
        tmp = self._tmp_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, self.path)
        except OSError as exc:  # disk full, directory removed meanwhile
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise SourceError(f"{self.path}: cannot write the recording ({exc.strerror})") from exc
        log.info("wrote %s: %d frames, %d faces", self.path, meta["frames"], meta["faces"])
        return self.path


def _load(path: Path) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """Read and validate a recording; every problem becomes a SourceError naming the file."""
    if not path.is_file():
        raise SourceError(f"{path}: no such recording")
    try:
        # our own handle: np.load leaks the one it opens when the zip is damaged
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the recording ({exc.strerror or exc})") from exc
    except Exception as exc:  # zipfile/numpy raise many types for a damaged file
        # numpy's own message advises allow_pickle, i.e. running code from the file: never
        raise SourceError(
            f"{path}: not a microslip recording (not a readable .npz: {type(exc).__name__})"
        ) from exc
    missing = [k for k in ("meta", *_ARRAYS) if k not in data]
    if missing:
        raise SourceError(f"{path}: not a microslip recording (missing {', '.join(missing)})")
    try:
        meta = json.loads(str(data["meta"]))
    except ValueError as exc:
        raise SourceError(f"{path}: unreadable meta ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise SourceError(f"{path}: not a microslip recording (format {meta!r:.60})")
    if meta.get("version") != FORMAT_VERSION:
        raise SourceError(f"{path}: recording version {meta.get('version')} is not supported")
    f, m = data["t_ns"].shape[0], data["track_id"].shape[0]
    if f == 0:
        raise SourceError(f"{path}: empty recording (no frames)")
    lm = data["landmarks"]
    shapes_ok = (
        data["t_ns"].shape == (f,)
        and data["index"].shape == (f,)
        and data["face_count"].shape == (f,)
        and int(data["face_count"].sum()) == m
        and int(data["face_count"].min()) >= 0
        and data["box"].shape == (m, 4)
        and data["presence"].shape == (m,)
        and lm.ndim == 3
        and lm.shape[0] == m
        and lm.shape[2] == 3
        and all(np.issubdtype(data[k].dtype, np.integer) for k in ("t_ns", "index", "track_id"))
        and all(np.issubdtype(data[k].dtype, np.floating) for k in ("box", "presence", "landmarks"))
    )
    if not shapes_ok:
        shapes = ", ".join(f"{k}{data[k].shape}" for k in _ARRAYS)
        raise SourceError(f"{path}: corrupt recording (inconsistent arrays: {shapes})")
    fps = meta.get("fps")
    if not isinstance(fps, (int, float)) or not fps > 0:
        raise SourceError(f"{path}: corrupt recording (meta fps {fps!r})")
    return meta, data


class LandmarkFileSource(SourceBase):
    """Replays a ``.npz`` recording as FaceFrames (no pixels, no face stage needed)."""

    def __init__(self, path: str | Path) -> None:
        """Open and validate ``path``; a missing, empty or corrupt file raises SourceError."""
        self.path = Path(path)
        self.name = self.path.name
        self.meta, self._data = _load(self.path)
        self._fps = float(self.meta["fps"])
        self.width = int(self.meta.get("width", 0))
        self.height = int(self.meta.get("height", 0))
        self._clock = FrameClock(self._fps)
        self._bad = 0

    @property
    def mesh(self) -> int:
        """Landmarks per face."""
        return int(self._data["landmarks"].shape[1])

    @property
    def frames(self) -> int:
        """Frames in the recording."""
        return int(self._data["t_ns"].shape[0])

    @property
    def frame_count(self) -> int:
        """Frames in the recording (same as :attr:`frames`, the name every source shares)."""
        return self.frames

    def __iter__(self) -> Iterator[FaceFrame]:
        d = self._data
        start = 0
        for i in range(self.frames):
            count = int(d["face_count"][i])
            rows = range(start, start + count)
            start += count
            t_ns = int(d["t_ns"][i])
            if not self._clock.observe(t_ns):
                self._bad += 1
                log.warning("%s: frame %d goes back in time, skipped", self.name, i)
                continue
            faces = []
            for r in rows:
                lm = d["landmarks"][r]
                box = d["box"][r]
                presence = float(d["presence"][r])
                if not (np.isfinite(lm).all() and np.isfinite(box).all() and np.isfinite(presence)):
                    log.warning("%s: frame %d: face with NaN/inf values removed", self.name, i)
                    continue
                faces.append(
                    Face(
                        track_id=int(d["track_id"][r]),
                        box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                        landmarks=lm.astype(np.float32, copy=False),
                        presence=presence,
                    )
                )
            if len(faces) < count:
                self._bad += 1
            yield FaceFrame(
                index=int(d["index"][i]),
                t_ns=t_ns,
                faces=tuple(faces),
                width=self.width,
                height=self.height,
            )
