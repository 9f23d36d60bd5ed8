"""``microslip eval``: score spotted events against ground truth (MEGC-style, IoU >= 0.5)."""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

from edge.errors import InputError, SourceError, UsageError

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


def register(sub: Any) -> None:
    """Add the ``eval`` subcommand to the CLI."""
    p: argparse.ArgumentParser = sub.add_parser(
        "eval",
        help="score events against ground truth (spotting F1, emotion UF1/UAR, false slips)",
        description="Score spotted events against ground truth. Either give predicted events "
        "(--pred EVENTS.jsonl, as written by `replay --events-out`) and one truth file, or give "
        "clips/recordings: each is run through the whole pipeline and scored against "
        "<clip>.json found next to it, in --truth-dir or given by --truth. Truth: our "
        "annotation JSON (annotations/README.md), events JSONL, or a CASME II / SAMM / "
        "CAS(ME)^2 table (.csv/.xlsx; choose the video with --video SUBJECT/VIDEO).",
    )
    p.add_argument("clips", nargs="*", type=Path, help="clips or .npz recordings to spot")
    p.add_argument("--pred", type=Path, metavar="EVENTS.jsonl", help="predicted events")
    p.add_argument("--truth", type=Path, help="truth file (annotation .json, .jsonl, table)")
    p.add_argument(
        "--truth-dir", type=Path, action="append", default=[], metavar="DIR",
        help="directory holding <clip name>.json annotations (repeatable; default: the "
        "clip's own directory, then ./annotations)",
    )  # fmt: skip
    p.add_argument(
        "--format", default="auto",
        choices=("auto", "annotation", "events", "casme2", "samm", "casme_sq"),
        help="truth format (default: from the file)",
    )  # fmt: skip
    p.add_argument("--video", help="SUBJECT/VIDEO to take from a dataset table")
    p.add_argument("--sheet", default="0", help="worksheet name or index of an .xlsx table")
    p.add_argument("--fps", type=float, help="frame rate of dataset frame numbers / the stream")
    p.add_argument(
        "--first-frame", type=int, default=0,
        help="dataset frame number that is t=0 of the predicted events (default 0)",
    )  # fmt: skip
    p.add_argument("--duration", type=float, help="stream length in s (default: from truth)")
    p.add_argument("--iou", type=float, default=0.5, help="IoU for a hit (default 0.5)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the full report as JSON")
    p.add_argument(
        "--save-events", type=Path, metavar="DIR",
        help="with clips: write each clip's events to DIR/<clip>.events.jsonl",
    )  # fmt: skip
    p.add_argument("--mesh", choices=("468", "478"), default="468", help="landmark mesh")
    p.add_argument("--model", help="micro-event model (default: the committed one)")
    p.add_argument(
        "--plot", type=Path, metavar="DIR",
        help="write a timeline PNG per stream (AU curves, slips, truth; needs matplotlib)",
    )  # fmt: skip
    p.set_defaults(func=run)


def read_events(path: Path) -> list[Any]:
    """All events of a JSON-lines file, validated against the schema."""
    from edge.events import event_from_json

    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read {path}: not UTF-8 text ({exc.reason})") from exc
    out = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            try:
                out.append(event_from_json(line))
            except InputError as exc:
                raise InputError(f"{path}:{n}: {exc}") from exc
    return out


def load_truth(args: argparse.Namespace, path: Path) -> tuple[tuple[Any, ...], float, int]:
    """(segments, fps, duration_ns) from any supported truth file; 0 where unknown."""
    from edge.evaluation.annotations import Segment, load_annotation
    from edge.evaluation.datasets import NATIVE_FPS, read_dataset, to_segments

    fmt = args.format
    if fmt == "auto":
        fmt = {".json": "annotation", ".jsonl": "events"}.get(path.suffix.lower(), "auto")
    if fmt == "annotation":
        a = load_annotation(path)
        return a.segments, a.fps, a.duration_ns
    if fmt == "events":
        evs = read_events(path)
        segs = tuple(
            Segment(e.type, e.onset_ns, e.apex_ns, e.offset_ns, e.emotion) for e in evs
        )  # fmt: skip
        return segs, 0.0, max((s.offset_ns for s in segs), default=0)
    sheet: str | int = int(args.sheet) if args.sheet.isdigit() else args.sheet
    samples = read_dataset(path, fmt, sheet)
    if not samples:
        raise InputError(f"{path}: no coded expressions found")
    videos = sorted({f"{s.subject}/{s.video}" for s in samples})
    if not args.video:
        raise UsageError(
            f"{path}: choose a video with --video SUBJECT/VIDEO ({len(videos)} in the table, "
            f"e.g. {', '.join(videos[:3])})"
        )
    # SAMM Long Videos name each expression <video>_<n>: the video matches all of them.
    chosen = [
        s
        for s in samples
        if args.video in (f"{s.subject}/{s.video}", f"{s.subject}/{s.video.rsplit('_', 1)[0]}")
    ]
    if not chosen:
        raise UsageError(f"{path}: no video {args.video!r} (e.g. {', '.join(videos[:3])})")
    fps = args.fps or NATIVE_FPS[chosen[0].dataset]
    segs = to_segments(chosen, fps, args.first_frame)
    return segs, fps, max(s.offset_ns for s in segs)


def _collect(data: Any, result: Any) -> None:
    data.add(result.face_frame.t_ns, result.au_frames)


def _timeline_data() -> Any:
    from edge.viz.plots import TimelineData

    return TimelineData()


def _plot(out_dir: Path, name: str, data: Any, fps: float, truths: Any) -> None:
    """One timeline PNG per stream (the visualisation helper's edge.viz.plots.timeline)."""
    try:
        from edge.viz.plots import timeline
    except ImportError as exc:
        raise InputError(f"--plot needs the viz extra (matplotlib): {exc}") from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        timeline(data, out_dir / f"{name}.png", fps=fps or None, truth=truths, title=name)
    except ImportError as exc:
        raise InputError(f"--plot needs the viz extra (matplotlib): {exc}") from exc


def _clip_names(clip: Path) -> list[str]:
    """Names a clip's truth is filed under: for a .npz recording, its source clip first."""
    names = []
    if clip.suffix.lower() == ".npz":
        from edge.sources.recording import LandmarkFileSource

        with LandmarkFileSource(clip) as rec:  # a bad recording: SourceError, exit 4
            source = str(rec.meta.get("source", ""))
        if source:
            names.append(Path(source).name)
    return [*names, clip.name] if clip.name not in names else names


def _truth_for_clip(args: argparse.Namespace, clip: Path, names: list[str]) -> Path:
    if args.truth is not None:
        return Path(str(args.truth))
    dirs: list[Path] = [*args.truth_dir, clip.parent, Path("annotations")]
    for d in dirs:
        for name in names:
            cand = d / f"{name}.json"
            if cand.is_file():
                return cand
    raise InputError(
        f"no ground truth for {clip}: looked for {' or '.join(n + '.json' for n in names)} in "
        + ", ".join(str(d) for d in dirs)
    )


def _warn_if_other_clip(clip: Path, names: list[str], truth: Path) -> None:
    """A truth annotated on another clip (name or sha256) is used, but never silently."""
    if truth.suffix.lower() != ".json":
        return
    from edge.evaluation.annotations import load_annotation

    a = load_annotation(truth)
    if a.clip and Path(a.clip).name not in names:
        log.warning("%s: annotated for clip %r, not %s", truth, a.clip, " / ".join(names))
    if a.sha256 and clip.suffix.lower() != ".npz":
        digest = hashlib.sha256()
        with clip.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != a.sha256.lower():
            log.warning(
                "%s: sha256 %s.. differs from the annotated clip's %s..: the truth may not "
                "match these frames",
                clip,
                digest.hexdigest()[:12],
                a.sha256[:12],
            )


def _plan(args: argparse.Namespace) -> list[tuple[Path, Path, tuple[Any, float, int]]]:
    """(clip, truth file, loaded truth) for every clip, all checked before any is processed."""
    plan = []
    for clip in args.clips:
        if not clip.is_file():  # exit 4, as `replay` on a missing clip
            raise SourceError(f"{clip}: {'is a directory' if clip.is_dir() else 'no such file'}")
        names = _clip_names(clip)
        truth_path = _truth_for_clip(args, clip, names)
        _warn_if_other_clip(clip, names, truth_path)
        plan.append((clip, truth_path, load_truth(args, truth_path)))
    return plan


def run(args: argparse.Namespace) -> int:
    """Build the streams, score them, print the report; 0 on success."""
    from edge.evaluation.metrics import Stream, evaluate
    from edge.evaluation.report import format_report, report_to_dict
    from edge.events import event_to_json

    if not 0 < args.iou <= 1:
        raise UsageError(f"--iou must be in (0, 1], got {args.iou}")
    # `not 0 < x < inf` also rejects nan; 0 would silently mean "the default"
    for flag, value in (("--fps", args.fps), ("--duration", args.duration)):
        if value is not None and not 0 < value < math.inf:
            raise UsageError(f"{flag} must be a positive number, got {value}")
    if args.json is not None:  # the report must never replace a prediction or the ground truth
        inputs = [p for p in (args.pred, args.truth, *args.clips) if p is not None]
        if Path(args.json).resolve() in {Path(p).resolve() for p in inputs}:
            raise UsageError(f"--json {args.json} would overwrite an input file")
    if bool(args.pred) == bool(args.clips):
        raise UsageError("give either --pred EVENTS.jsonl (with --truth) or clips to spot")
    streams = []
    if args.pred is not None:
        if args.truth is None:
            raise UsageError("--pred needs --truth")
        preds = read_events(args.pred)
        truths, fps, duration_ns = load_truth(args, args.truth)
        fps = args.fps or fps or 30.0
        if args.duration:
            duration_ns = round(args.duration * 1e9)
        duration_ns = max(duration_ns, *(e.offset_ns for e in preds), 0)
        streams.append(Stream(args.pred.name, fps, duration_ns, truths, tuple(preds)))
        if args.plot is not None:
            data = _timeline_data()
            data.add_events(preds)
            _plot(args.plot, args.pred.name, data, fps, truths)
    else:
        from edge.evaluation.clips import spot_clip

        for clip, _truth_path, (truths, truth_fps, duration_ns) in _plan(args):
            data = _timeline_data() if args.plot is not None else None
            collect = None if data is None else functools.partial(_collect, data)
            events, fps, frames = spot_clip(
                clip, mesh=args.mesh, model_path=args.model, on_result=collect
            )
            if data is not None:
                data.add_events(events)
                _plot(args.plot, clip.name, data, fps, truths)
            if args.save_events is not None:
                args.save_events.mkdir(parents=True, exist_ok=True)
                out = args.save_events / f"{clip.name}.events.jsonl"
                out.write_text("".join(event_to_json(e) + "\n" for e in events), "utf-8")
            if not duration_ns:
                duration_ns = round(frames * 1e9 / fps) if fps > 0 else 0
            streams.append(Stream(clip.name, fps or truth_fps, duration_ns, truths, tuple(events)))
    report = evaluate(streams, args.iou)
    print(format_report(report))
    per_stream = []
    for s in streams:
        r = evaluate([s], args.iou)
        sp = r.spotting["all"]
        per_stream.append(
            {"name": s.name, "fps": round(s.fps, 3), "duration_s": round(s.duration_ns / 1e9, 3),
             "true": sp.n_true, "pred": sp.n_pred, "hits": sp.tp,
             "false_slips": r.false_slips}
        )  # fmt: skip
        print(
            f"  {s.name}: {sp.n_true} true, {sp.n_pred} predicted, {sp.tp} hit, "
            f"{r.false_slips} false"
        )
    if args.json is not None:
        d = {"iou": args.iou, **report_to_dict(report), "per_stream": per_stream}
        try:
            args.json.write_text(json.dumps(d, indent=1) + "\n", "utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.json}: {exc.strerror or exc}") from exc
    return 0
