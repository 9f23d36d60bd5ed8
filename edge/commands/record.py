"""``microslip record CLIP|camera --out REC.npz``: landmarks only, never pixels."""

from __future__ import annotations

import argparse
import math
import signal
from pathlib import Path
from typing import Any

from edge.errors import InputError, UsageError


def register(sub: Any) -> None:
    """Add the ``record`` subcommand to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "record",
        help="record face landmarks from a clip or the camera to a .npz file",
        description="Track faces in a video file or the Pi camera ('camera') and save "
        "timestamps, track ids, boxes and landmarks (never pixels) to a .npz recording that "
        "`microslip replay` can play back.",
    )
    parser.add_argument("source", help="video file, or 'camera' for the Pi camera")
    parser.add_argument("--out", type=Path, required=True, metavar="REC.npz", help="output file")
    parser.add_argument("--mesh", choices=("468", "478"), default="468", help="landmark mesh")
    parser.add_argument(
        "--max-faces", type=int, default=4, help="most faces tracked at once (default 4)"
    )
    parser.add_argument("--fps", type=float, default=None, help="camera frame rate (default 30)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument(
        "--seconds", type=float, default=None, help="stop after this many seconds of video"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Record ``args.source`` to ``args.out``; Ctrl-C stops a camera recording and saves it."""
    from edge.commands.progress import Progress
    from edge.pipeline import Pipeline, PipelineResult
    from edge.replay import replay
    from edge.sources import open_source
    from edge.sources.recording import RecordingWriter

    out: Path = args.out
    if out.suffix.lower() != ".npz":
        raise UsageError(f"--out must end in .npz, got {out}")
    if str(args.source).lower().endswith(".npz"):
        raise UsageError(f"{args.source} is already a landmark recording")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be at least 1, got {args.max_frames}")
    # `not x > 0` also catches nan, which would otherwise crash or be ignored
    if args.seconds is not None and not 0 < args.seconds < math.inf:
        raise UsageError(f"--seconds must be a positive number, got {args.seconds}")
    if args.fps is not None and not 1 <= args.fps <= 240:
        raise UsageError(f"--fps must be between 1 and 240, got {args.fps}")
    pipeline = Pipeline(mesh=args.mesh, spot=False, max_faces=args.max_faces)
    with open_source(args.source, fps=args.fps) as source:
        max_frames = args.max_frames
        if args.seconds is not None:
            by_time = max(1, round(args.seconds * source.fps))
            max_frames = by_time if max_frames is None else min(max_frames, by_time)
        writer = RecordingWriter(
            out,
            fps=source.fps,
            width=getattr(source, "width", 0),
            height=getattr(source, "height", 0),
            source=source.name,
            mesh=int(args.mesh),
        )

        def on_result(result: PipelineResult) -> None:
            writer.add(result.face_frame)

        total = max_frames or getattr(source, "frame_count", None)
        progress = Progress(f"record {source.name}", total=total)
        interrupted = False
        # SIGTERM (timeout, systemd-run, kill) ends a capture like Ctrl-C: keep what was recorded
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            summary = replay(
                source, pipeline, on_result=on_result, max_frames=max_frames, progress=progress
            )
        except KeyboardInterrupt:
            # a camera recording ends with Ctrl-C: keep what was captured
            progress.close()
            interrupted = True
        finally:
            signal.signal(signal.SIGTERM, previous)
        if writer.frames == 0:
            raise InputError(f"{args.source}: no frames recorded; nothing written")
        writer.close(dropped=source.dropped, bad_frames=source.bad_frames)
    if interrupted:
        print(f"interrupted: {writer.frames} frames recorded")
    else:
        for line in summary.lines():
            print(line)
    print(f"recording written to {out} ({writer.frames} frames)")
    return 0
