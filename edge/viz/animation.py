"""Slow-motion animations of a slip's landmark motion (GIF/MP4 via Pillow, ``--motion-out``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.errors import InputError
from edge.events.motion import Motion, iter_parts, motion_regions


def _render_frames(
    motion: Motion, title: str, aus: Sequence[str], size: tuple[int, int]
) -> list[Any]:
    """Draw each motion frame as a wireframe (PIL images); moving regions in colour."""
    try:
        from PIL import Image, ImageDraw
    except ImportError as exc:
        raise InputError(f"animations need the viz extra (Pillow): {exc}") from exc

    w, h = size
    pts = motion.as_float()
    lo, hi = pts.reshape(-1, 2).min(axis=0), pts.reshape(-1, 2).max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-3))
    scale = 0.8 * min(w, h - 40) / span
    centre = (lo + hi) / 2

    def xy(p: npt.NDArray[np.float32]) -> list[tuple[float, float]]:
        return [
            (
                float(w / 2 + (x - centre[0]) * scale),
                float(20 + (h - 40) / 2 + (y - centre[1]) * scale),
            )
            for x, y in p
        ]

    moving = set(motion_regions(motion))
    images = []
    for k, frame in enumerate(pts):
        img = Image.new("RGB", (w, h), (250, 250, 248))
        draw = ImageDraw.Draw(img)
        for _, region, closed, rng in iter_parts():
            ghost = xy(pts[0][rng.start : rng.stop])
            cur = xy(frame[rng.start : rng.stop])
            if closed:
                ghost, cur = ghost + ghost[:1], cur + cur[:1]
            hot = region in moving
            draw.line(ghost, fill=(205, 205, 205), width=1)
            draw.line(cur, fill=(214, 69, 65) if hot else (60, 60, 60), width=3 if hot else 1)
        draw.text((6, 4), title, fill=(0, 0, 0))
        draw.text((6, h - 30), " ".join(aus)[:60], fill=(120, 30, 30))
        draw.text((6, h - 16), f"{motion.t_ms[k]:+d} ms  (1/10 speed)", fill=(80, 80, 80))
        images.append(img)
    return images


def write_animation(
    motion: Motion,
    path: str,
    *,
    title: str = "",
    aus: Sequence[str] = (),
    slowdown: float = 10.0,
    size: tuple[int, int] = (240, 280),
) -> None:
    """Write the slip as an animated GIF (``.gif``) or a side-by-side PNG strip (``.png``)."""
    images = _render_frames(motion, title, aus, size)
    if path.lower().endswith(".gif"):
        steps = np.diff(np.asarray(motion.t_ms, dtype=np.float64))
        # GIF frame delays are in 10 ms steps; keep at least 20 ms so viewers honour them.
        durations = [max(20, int(round(d * slowdown))) for d in steps] + [1000]
        images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    elif path.lower().endswith(".png"):
        from PIL import Image

        strip = Image.new("RGB", (size[0] * len(images), size[1]), (255, 255, 255))
        for k, im in enumerate(images):
            strip.paste(im, (k * size[0], 0))
        strip.save(path)
    else:
        raise InputError(f"motion output must end in .gif or .png: {path}")
