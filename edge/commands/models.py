"""``microslip models fetch|verify|list``: face models from pinned wheels, checked by sha256."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the ``models`` subcommand and its actions to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "models", help="fetch, verify or list the face models"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="models directory (default $MICROSLIP_MODELS_DIR or ~/.cache/microslip/models)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = actions.add_parser("fetch", help="download missing models and verify all")
    fetch.add_argument("--force", action="store_true", help="download again even if valid")
    fetch.add_argument("names", nargs="*", help="models to fetch (default: all)")
    verify = actions.add_parser("verify", help="check every model's sha256 against the manifest")
    verify.add_argument("names", nargs="*", help="models to verify (default: all)")
    actions.add_parser("list", help="show the manifest: source wheel, sha256, shapes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out one models action; errors propagate as ModelError/FetchError."""
    from edge.errors import ModelError
    from edge.runtime import manifest as models

    directory: Path = args.dir or models.models_dir()
    if args.action == "fetch":
        # a line per model before its download (about 50 MB in all), pip's bar on a terminal
        def report(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        paths = models.fetch(
            args.names or None,
            directory,
            force=args.force,
            report=report,
            show_progress=sys.stderr.isatty(),
        )
        for path in paths:
            print(f"ok  {path}")
        return 0
    if args.action == "verify":
        failures = 0
        for name in args.names or sorted(models.manifest()):
            try:
                path = models.verify(name, directory)
            except ModelError as exc:
                failures += 1
                print(f"FAIL {exc}")
            else:
                print(f"ok  {path}")
        if failures:
            raise ModelError(f"{failures} model(s) failed verification in {directory}")
        return 0
    for spec in models.manifest().values():
        src = spec.source
        member = f"{spec.member}!{spec.inner}" if spec.inner else spec.member
        print(f"{spec.name}: {spec.description}")
        print(f"  from     {src.package}=={src.version} ({src.licence}) {member}")
        print(f"  sha256   {spec.sha256} ({spec.size} bytes)")
        for t in spec.inputs:
            print(f"  input    {t.name} {list(t.shape)} {t.dtype}")
        for t in spec.outputs:
            print(f"  output   {t.name} {list(t.shape)} {t.dtype}")
    return 0
