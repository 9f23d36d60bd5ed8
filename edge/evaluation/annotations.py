"""Ground truth for clips: our annotation format (JSON, one file per clip) and its segments.

A segment is one annotated interval: an expression (``micro``/``macro`` with an emotion) or a
nuisance that must not become a slip (blink, head turn, occlusion, ...). Every boundary is
stored both as a frame index of the clip and as a time in ms from the clip's first frame;
times are what evaluation uses, frames are what a human checks against the video.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import InputError
from edge.events import EMOTIONS

FORMAT = "microslip-annotations/1"
EXPRESSION_KINDS: tuple[str, ...] = ("micro", "macro")
# Nuisances are movements a detector must not report as slips; `no_face` marks stretches
# without a usable face (they count neither as neutral time nor as an expression).
NUISANCE_KINDS: tuple[str, ...] = (
    "blink",
    "head_turn",
    "head_nod",
    "occlusion",
    "speech",
    "talking_laugh",
    "twitch",  # one-sided twitch that is not contempt (generated streams)
)
CONTEXT_KINDS: tuple[str, ...] = ("no_face",)
KINDS: tuple[str, ...] = EXPRESSION_KINDS + NUISANCE_KINDS + CONTEXT_KINDS


@dataclass(frozen=True, slots=True)
class Segment:
    """One annotated interval of a clip; times in ns from the first frame."""

    kind: str
    onset_ns: int
    apex_ns: int
    offset_ns: int
    emotion: str | None = None
    action_units: tuple[str, ...] = ()
    onset_frame: int | None = None
    apex_frame: int | None = None
    offset_frame: int | None = None
    note: str = ""
    # Last frame of the apex plateau before the face starts to relax (macro expressions that
    # hold); the time-compressed clips keep onset..apex and release..offset.
    release_ns: int | None = None
    release_frame: int | None = None

    @property
    def is_expression(self) -> bool:
        """True for micro and macro expressions (the things a spotter should find)."""
        return self.kind in EXPRESSION_KINDS

    @property
    def duration_ms(self) -> float:
        """Onset to offset in milliseconds."""
        return (self.offset_ns - self.onset_ns) / 1e6


@dataclass(frozen=True, slots=True)
class ClipAnnotation:
    """All segments of one clip plus what is needed to map them back onto the video."""

    clip: str
    fps: float
    frames: int
    duration_ns: int
    segments: tuple[Segment, ...]
    sha256: str = ""
    source: str = ""
    method: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expressions(self) -> tuple[Segment, ...]:
        """The micro and macro expressions, in time order."""
        return tuple(s for s in self.segments if s.is_expression)


def _ms_to_ns(ms: float) -> int:
    return round(ms * 1e6)


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _segment_from_dict(d: dict[str, Any], where: str) -> Segment:
    try:
        kind = str(d["kind"])
        onset, apex, offset = (float(d[k + "_ms"]) for k in ("onset", "apex", "offset"))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: missing or bad field {exc}") from exc
    if kind not in KINDS:
        raise InputError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if not all(math.isfinite(v) for v in (onset, apex, offset)) or not (
        0 <= onset <= apex <= offset
    ):
        raise InputError(f"{where}: need 0 <= onset_ms <= apex_ms <= offset_ms")
    emotion = d.get("emotion")
    if kind in EXPRESSION_KINDS and emotion is not None and emotion not in EMOTIONS:
        raise InputError(f"{where}: emotion {emotion!r} is not one of {', '.join(EMOTIONS)}")
    if kind not in EXPRESSION_KINDS and emotion is not None:
        raise InputError(f"{where}: a {kind} segment has no emotion")
    frames = [_opt_int(d.get(k + "_frame")) for k in ("onset", "apex", "offset")]
    f0, f1, f2 = frames
    if f0 is not None and f1 is not None and f2 is not None and not f0 <= f1 <= f2:
        raise InputError(f"{where}: need onset_frame <= apex_frame <= offset_frame")
    release = d.get("release_ms")
    if release is not None and not apex <= float(release) <= offset:
        raise InputError(f"{where}: need apex_ms <= release_ms <= offset_ms")
    return Segment(
        kind=kind,
        onset_ns=_ms_to_ns(onset),
        apex_ns=_ms_to_ns(apex),
        offset_ns=_ms_to_ns(offset),
        emotion=emotion,
        action_units=tuple(str(a) for a in d.get("action_units", ())),
        onset_frame=f0,
        apex_frame=f1,
        offset_frame=f2,
        note=str(d.get("note", "")),
        release_ns=None if release is None else _ms_to_ns(float(release)),
        release_frame=_opt_int(d.get("release_frame")),
    )


def annotation_from_dict(d: dict[str, Any], where: str = "annotation") -> ClipAnnotation:
    """Build and check a ClipAnnotation from its JSON object."""
    if d.get("format") != FORMAT:
        raise InputError(f"{where}: 'format' must be {FORMAT!r}")
    try:
        fps = float(d["fps"])
        frames = int(d["frames"])
        duration_ns = _ms_to_ns(float(d["duration_ms"]))
        raw_segments = list(d["segments"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: missing or bad field {exc}") from exc
    if not fps > 0:
        raise InputError(f"{where}: fps must be > 0")
    segments = tuple(
        _segment_from_dict(s, f"{where}: segment {i}") for i, s in enumerate(raw_segments)
    )
    for i, s in enumerate(segments):
        if s.offset_ns > duration_ns:
            raise InputError(f"{where}: segment {i} ends after the clip ({s.offset_ns} ns)")
    known = {"format", "clip", "fps", "frames", "duration_ms", "segments", "sha256", "source"}
    return ClipAnnotation(
        clip=str(d.get("clip", "")),
        fps=fps,
        frames=frames,
        duration_ns=duration_ns,
        segments=tuple(sorted(segments, key=lambda s: (s.onset_ns, s.offset_ns))),
        sha256=str(d.get("sha256", "")),
        source=str(d.get("source", "")),
        method=str(d.get("method", "")),
        extra={k: v for k, v in d.items() if k not in known and k != "method"},
    )


def segment_to_dict(s: Segment) -> dict[str, Any]:
    """The JSON object of one segment (frames where known, times always)."""
    d: dict[str, Any] = {"kind": s.kind}
    if s.emotion is not None:
        d["emotion"] = s.emotion
    for name in ("onset", "apex", "release", "offset"):
        frame, t_ns = getattr(s, name + "_frame"), getattr(s, name + "_ns")
        if frame is not None:
            d[name + "_frame"] = frame
        if t_ns is not None:
            d[name + "_ms"] = round(t_ns / 1e6, 3)
    if s.action_units:
        d["action_units"] = list(s.action_units)
    if s.note:
        d["note"] = s.note
    return d


def annotation_to_dict(a: ClipAnnotation) -> dict[str, Any]:
    """The JSON object of a whole clip annotation."""
    d: dict[str, Any] = {
        "format": FORMAT,
        "clip": a.clip,
        "sha256": a.sha256,
        "source": a.source,
        "method": a.method,
        "fps": a.fps,
        "frames": a.frames,
        "duration_ms": round(a.duration_ns / 1e6, 3),
    }
    d.update(a.extra)
    d["segments"] = [segment_to_dict(s) for s in a.segments]
    return d


def load_annotation(path: Path | str) -> ClipAnnotation:
    """Read one annotation JSON file."""
    p = Path(path)
    try:
        d = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8 at all
        raise InputError(f"{p}: cannot read annotation: {exc}") from exc
    if not isinstance(d, dict):
        raise InputError(f"{p}: an annotation file holds one JSON object")
    return annotation_from_dict(d, str(p))


def save_annotation(a: ClipAnnotation, path: Path | str) -> None:
    """Write one annotation JSON file (stable key order, one segment per line)."""
    d = annotation_to_dict(a)
    segs = d.pop("segments")
    head = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in d.items())
    lines = ",\n".join("    " + json.dumps(s) for s in segs)
    Path(path).write_text(f'{{\n{head},\n  "segments": [\n{lines}\n  ]\n}}\n', "utf-8")
