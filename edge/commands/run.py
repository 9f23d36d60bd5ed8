"""``microslip run --config PATH``: the device service (camera -> events -> MQTT)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from edge.config import DEFAULT_PATH


def register(sub: Any) -> None:
    """Add the ``run`` subcommand to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run the device service: camera, pipeline, durable MQTT publishing",
        description="Run the fixed-rate service described by a TOML config until SIGTERM "
        "(or, for a file source without loop = true, until the file ends and events are "
        "flushed). Secrets come from mqtt.password_file or $MICROSLIP_MQTT_PASSWORD.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help=f"TOML config (default {DEFAULT_PATH})"
    )
    # start-up, connected/lost, one line per slip and a status line a minute, by default
    parser.set_defaults(func=run, log_level=logging.INFO)


def run(args: argparse.Namespace) -> int:
    """Load the config, build the real pipeline and serve; return the exit code."""
    from edge.config import load_config
    from edge.device.wiring import serve
    from edge.pipeline import Pipeline

    cfg = load_config(args.config)
    pipeline = Pipeline(
        device_id=cfg.device.id,
        mesh=cfg.pipeline.mesh,
        max_faces=cfg.pipeline.max_faces,
        include_motion=cfg.events.include_motion,
    )
    serve(cfg, pipeline)
    return 0
