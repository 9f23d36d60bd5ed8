"""MediaPipe's FaceMesh as the speed reference: run a child script in ``.venv-ref``.

The reference venv holds mediapipe 0.10.21 (``--no-deps``, see docs/benchmarks.md); the
benchmarks hand it a script and read the JSON document its last line prints.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REF_PYTHON = REPO / ".venv-ref" / "bin" / "python"


def run_reference(child: str, *args: str) -> dict[str, Any] | None:
    """Run ``child`` (Python source) in .venv-ref with ``args``; its last line as JSON, or
    None when that venv is absent."""
    if not REF_PYTHON.exists():
        return None
    proc = subprocess.run(
        [str(REF_PYTHON), "-c", child, *args], capture_output=True, text=True, check=True
    )
    doc: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc
