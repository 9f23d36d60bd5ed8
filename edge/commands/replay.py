"""``microslip replay CLIP``: run a clip or a landmark recording through the pipeline."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edge.commands.args import require_positive
from edge.errors import StorageError, UsageError


def register(sub: Any) -> None:
    """Add the ``replay`` subcommand to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "replay",
        help="run a video clip or a recorded .npz through the pipeline",
        description="Replay a video file or a landmark recording (.npz) through face tracking, "
        "features and the spotter; print a summary, optionally write per-frame landmarks and "
        "events as JSON lines.",
    )
    parser.add_argument("clip", type=Path, help="video file (mp4, mov, ...) or recording (.npz)")
    parser.add_argument(
        "--frames-out", type=Path, metavar="FRAMES.jsonl", help="write one JSON line per frame"
    )
    parser.add_argument(
        "--events-out", type=Path, metavar="EVENTS.jsonl", help="write one JSON line per event"
    )
    parser.add_argument("--mesh", choices=("468", "478"), default="468", help="landmark mesh")
    parser.add_argument(
        "--max-faces", type=int, default=4, help="most faces tracked at once (default 4)"
    )
    parser.add_argument(
        "--no-spot", action="store_true", help="landmarks only: no features, no events"
    )
    parser.add_argument("--device-id", default="replay", help="device id put in events")
    parser.add_argument(
        "--realtime", action="store_true", help="pace frames at the clip's own frame rate"
    )
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frame rate to assume if the clip states none",
    )
    parser.add_argument(
        "--plot", type=Path, metavar="PNG", help="write a timeline plot (needs the viz extra)"
    )
    parser.add_argument(
        "--motion-out",
        type=Path,
        metavar="DIR",
        help="record slip motion and write a 1/10-speed animation per slip (viz extra)",
    )
    parser.add_argument(
        "--motion-format", choices=("gif", "png"), default="gif", help="animated GIF or PNG strip"
    )
    parser.set_defaults(func=run)


class JsonLines:
    """A JSON-lines output that stays valid: on a write error it is cut to its last whole line."""

    def __init__(self, path: Path, flag: str) -> None:
        self.path, self.flag = path, flag
        self.lines = 0
        self._good = 0  # bytes of whole lines written
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def write(self, line: str) -> None:
        """Append one line (unbuffered: what was written is on disk when a signal comes)."""
        if self._fd is None:
            return
        encoded = (line + "\n").encode()
        data = memoryview(encoded)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            os.ftruncate(self._fd, self._good)  # a half line would break every reader
            self.close()
            kept = f"the {self.lines} lines before are kept"
            msg = f"{self.flag} {self.path}: {exc.strerror or exc}; {kept}"
            raise StorageError(msg) from exc
        self._good += len(encoded)
        self.lines += 1

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def open_output(path: Path | None, flag: str) -> JsonLines | None:
    """Open a JSON-lines output file, turning OS errors into one clear message."""
    return None if path is None else JsonLines(path, flag)


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse outputs that would overwrite the input (or each other) before anything is read."""
    seen: dict[Path, str] = {Path(args.clip).resolve(): "the input"}
    for flag in ("--frames-out", "--events-out", "--plot"):
        path = getattr(args, flag[2:].replace("-", "_"))
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise UsageError(f"{flag} {path} would overwrite {seen[key]}")
        seen[key] = flag


def run(args: argparse.Namespace) -> int:
    """Replay ``args.clip``; print the summary; return 0."""
    from edge.commands.progress import Progress
    from edge.events import event_to_json
    from edge.pipeline import Pipeline, PipelineResult
    from edge.replay import face_frame_to_dict, replay
    from edge.sources import open_source
    from edge.viz.plots import ReplayVisuals

    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be at least 1, got {args.max_frames}")
    require_positive("--fps", args.fps)
    _check_outputs(args)
    pipeline = Pipeline(
        device_id=args.device_id,
        mesh=args.mesh,
        spot=not args.no_spot,
        max_faces=args.max_faces,
        include_motion=args.motion_out is not None,
    )
    visuals = ReplayVisuals(args.plot, args.motion_out, args.motion_format)
    stop = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    with open_source(args.clip, fps=args.fps) as source:
        frames_fh = open_output(args.frames_out, "--frames-out")
        events_fh = open_output(args.events_out, "--events-out")
        # SIGTERM ends a replay like the end of the clip: open events flushed, files closed
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set()) if main else None
        try:

            def on_result(result: PipelineResult) -> None:
                visuals.on_frame(result.face_frame.t_ns, result.au_frames)
                if frames_fh is not None:
                    line = json.dumps(face_frame_to_dict(result.face_frame), allow_nan=False)
                    frames_fh.write(line)

            def on_events(events: list[Any]) -> None:
                visuals.on_events(events)
                if events_fh is not None:
                    for ev in events:
                        events_fh.write(event_to_json(ev))

            total = getattr(source, "frame_count", None)
            progress = Progress(f"replay {source.name}", total=total)
            summary = replay(
                source,
                pipeline,
                on_result=on_result,
                realtime=args.realtime,
                on_events=on_events,
                max_frames=args.max_frames,
                progress=progress,
                should_stop=stop.is_set,
            )
        finally:
            for fh in (frames_fh, events_fh):
                if fh is not None:
                    fh.close()
            if main:
                signal.signal(signal.SIGTERM, previous)
    for line in summary.lines():
        print(line)
    for line in visuals.finish(source.fps, args.clip.name):
        print(line)
    for path, what in ((args.frames_out, "frames"), (args.events_out, "events")):
        if path is not None:
            print(f"{what} written to {path}")
    sys.stdout.flush()
    return 0
