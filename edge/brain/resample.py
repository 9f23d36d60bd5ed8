"""Resample an irregular feature stream onto the micro-event model's fixed-rate time grid.

Used by the spotter (streaming) and by training (whole sequences) so both see the same data.
A grid point between two samples further apart than ``max_gap_s`` is not invented: the
stream is cut there and the caller is told.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class GridSample:
    """One grid point: its time, its interpolated features, and whether a cut precedes it."""

    t_ns: int
    values: F32
    after_gap: bool


class GridResampler:
    """Streaming linear interpolation of (t_ns, values) samples onto a ``rate_hz`` grid."""

    def __init__(self, rate_hz: float = 30.0, max_gap_s: float = 0.15) -> None:
        self.period_ns = round(1e9 / rate_hz)
        self.max_gap_ns = round(max_gap_s * 1e9)
        self._prev_t: int | None = None
        self._prev_v: F32 | None = None
        self._next_grid: int | None = None
        self.gaps = 0

    def push(self, t_ns: int, values: F32) -> list[GridSample]:
        """Feed one sample (timestamps must increase); returns the grid points now known."""
        out: list[GridSample] = []
        if self._prev_t is None or self._prev_v is None or self._next_grid is None:
            self._prev_t, self._prev_v, self._next_grid = t_ns, values, t_ns + self.period_ns
            return [GridSample(t_ns, values, True)]
        if t_ns <= self._prev_t:
            return out  # out-of-order or duplicate timestamp: ignored
        gap = t_ns - self._prev_t > self.max_gap_ns
        if gap:
            self.gaps += 1
            # restart the grid at this sample: nothing is interpolated across the hole
            self._prev_t, self._prev_v, self._next_grid = t_ns, values, t_ns + self.period_ns
            return [GridSample(t_ns, values, True)]
        span = float(t_ns - self._prev_t)
        while self._next_grid <= t_ns:
            w = np.float32((self._next_grid - self._prev_t) / span)
            v = (self._prev_v + w * (values - self._prev_v)).astype(np.float32)
            out.append(GridSample(self._next_grid, v, False))
            self._next_grid += self.period_ns
        self._prev_t, self._prev_v = t_ns, values
        return out

    def reset(self) -> None:
        """Forget the stream (a track ended)."""
        self._prev_t = self._prev_v = self._next_grid = None


def resample_sequence(
    t_ns: npt.NDArray[np.int64], values: F32, rate_hz: float = 30.0, max_gap_s: float = 0.15
) -> tuple[npt.NDArray[np.int64], F32, npt.NDArray[np.bool_]]:
    """Whole-sequence form of ``GridResampler``: grid times, values and after-gap flags."""
    rs = GridResampler(rate_hz, max_gap_s)
    samples: list[GridSample] = []
    for t, v in zip(t_ns.tolist(), values, strict=True):
        samples.extend(rs.push(int(t), v))
    ts = np.array([s.t_ns for s in samples], np.int64)
    vs = np.stack([s.values for s in samples]).astype(np.float32)
    gaps = np.array([s.after_gap for s in samples], bool)
    return ts, vs, gaps
