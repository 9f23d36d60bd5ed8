"""Contact sheet of chosen clip frames (labelled with index and time) to check annotations by eye.

python tools/contact_sheet.py CLIP OUT.png FRAME [FRAME ...] [--crop x0,y0,x1,y1] [--width W]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np


def main() -> None:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("clip")
    ap.add_argument("out")
    ap.add_argument("frames", nargs="+", type=int)
    ap.add_argument("--crop", default="", help="x0,y0,x1,y1 in pixels")
    ap.add_argument("--width", type=int, default=240, help="tile width in pixels")
    ap.add_argument("--cols", type=int, default=6)
    a = ap.parse_args()
    want = set(a.frames)
    cap = cv2.VideoCapture(a.clip)
    tiles: dict[int, np.ndarray] = {}
    i = 0
    while want - tiles.keys():
        ok, img = cap.read()
        if not ok:
            break
        if i in want:
            t = cap.get(cv2.CAP_PROP_POS_MSEC)
            if a.crop:
                x0, y0, x1, y1 = (int(v) for v in a.crop.split(","))
                img = img[y0:y1, x0:x1]
            h = round(img.shape[0] * a.width / img.shape[1])
            img = cv2.resize(img, (a.width, h), interpolation=cv2.INTER_AREA)
            cv2.putText(img, f"{i} {t:.0f}ms", (4, 16), 0, 0.5, (0, 255, 255), 1, cv2.LINE_AA)
            tiles[i] = img
        i += 1
    order = [tiles[f] for f in a.frames if f in tiles]
    blank = np.zeros_like(order[0])
    rows = [order[k : k + a.cols] for k in range(0, len(order), a.cols)]
    rows[-1] += [blank] * (a.cols - len(rows[-1]))
    cv2.imwrite(a.out, np.vstack([np.hstack(r) for r in rows]))


if __name__ == "__main__":
    main()
