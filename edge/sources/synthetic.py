"""Seeded cartoon-face frames at a fixed rate: cheap input for tests and demos."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from edge.errors import InputError
from edge.sources.base import FrameClock, SourceBase
from edge.types import Frame


class SyntheticSource(SourceBase):
    """Seeded cartoon-face frames at a fixed rate: cheap input for tests and demos."""

    def __init__(
        self,
        fps: float = 30.0,
        frames: int | None = 90,
        width: int = 320,
        height: int = 240,
        seed: int = 0,
        drop: tuple[int, ...] | frozenset[int] = (),
        face: bool = True,
    ) -> None:
        """``frames=None`` never ends; ``drop`` lists indices never delivered (a ``t_ns`` gap)."""
        if fps <= 0 or (frames is not None and frames < 0) or width < 16 or height < 16:
            raise InputError(
                f"synthetic source needs fps > 0, frames >= 0 and size >= 16 px "
                f"(got fps={fps}, frames={frames}, {width}x{height})"
            )
        self.name = f"synthetic(seed={seed})"
        self._fps = float(fps)
        self.frames = frames
        self.width = width
        self.height = height
        self.seed = seed
        self.drop = frozenset(drop)
        self.face = face
        self._clock = FrameClock(self._fps)

    @property
    def frame_count(self) -> int:
        """Frames this source will yield (0 when endless)."""
        if self.frames is None:
            return 0
        return self.frames - len({i for i in self.drop if 0 <= i < self.frames})

    def __iter__(self) -> Iterator[Frame]:
        rng = np.random.default_rng(self.seed)
        w, h = self.width, self.height
        yy, xx = np.mgrid[0:h, 0:w]
        background = (40 + 60 * xx / w + 30 * yy / h).astype(np.uint8)
        base = np.dstack([background, background, background // 2 + 40])
        cx, cy = w / 2, h / 2
        for i in itertools.count() if self.frames is None else range(self.frames):
            # a slow random walk so that trackers see motion, bounded to stay in view
            cx = float(np.clip(cx + rng.normal(0, w / 200), w * 0.35, w * 0.65))
            cy = float(np.clip(cy + rng.normal(0, h / 200), h * 0.4, h * 0.6))
            if i in self.drop:
                continue
            image = base.copy()
            if self.face:
                _draw_face(image, cx, cy, min(w, h) * 0.28, smile=0.5 + 0.5 * math.sin(i / 9))
            t_ns = round(i * 1e9 / self._fps)
            self._clock.observe(t_ns)
            yield Frame(index=i, t_ns=t_ns, image=image)


def _draw_face(image: npt.NDArray[np.uint8], cx: float, cy: float, r: float, smile: float) -> None:
    """Draw a simple frontal face (skin oval, brows, eyes, nose, mouth) in place."""
    import cv2

    def p(dx: float, dy: float) -> tuple[int, int]:
        return int(cx + dx * r), int(cy + dy * r)

    cv2.ellipse(image, p(0, 0), (int(0.78 * r), int(r)), 0, 0, 360, (224, 172, 140), -1)
    for side in (-1, 1):
        cv2.ellipse(image, p(side * 0.33, -0.22), (int(0.16 * r), int(0.08 * r)), 0, 0, 360,
                    (250, 250, 250), -1)  # fmt: skip
        cv2.circle(image, p(side * 0.33, -0.22), max(1, int(0.06 * r)), (60, 40, 30), -1)
        cv2.line(image, p(side * 0.48, -0.42), p(side * 0.18, -0.40), (90, 60, 40), 3)
    cv2.line(image, p(0, -0.15), p(-0.06, 0.18), (180, 120, 100), 2)
    cv2.ellipse(image, p(0, 0.45), (int(0.3 * r), int((0.05 + 0.12 * smile) * r)), 0, 0, 180,
                (150, 60, 60), 3)  # fmt: skip
