"""The spotter: per-track feature stream -> micro-event model -> SlipEvents with onset/apex/offset.

Each track's AUFrames are resampled onto the model's 30 fps grid (``edge.brain.resample``), a
window of the last 32 grid frames is scored by the int8 micro-event model (slip probability
and emotion of the frame ``lookahead`` frames back), and a hysteresis on the slip probability
turns scored frames into intervals. An interval leaves as soon as its offset is scored, i.e.
``lookahead + 1`` grid frames (200 ms) after the offset. A gap in the stream, a lost track or
a stream end during an expression cuts the interval: it is emitted only when it is certainly
macro (already longer than 500 ms), otherwise dropped, with the reason logged. What the
event says (emotion, apex, action units) is decided in ``edge.brain.slips``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.brain.appearance import MODEL_NAME as APPEARANCE_MODEL
from edge.brain.au_evidence import AUListing
from edge.brain.au_geometry import PROTOTYPES
from edge.brain.episodes import LongExpressions, Span, share
from edge.brain.flow import FLOW_NAMES
from edge.brain.resample import GridResampler
from edge.brain.slips import EventContext, Scored, build_event, not_an_expression, not_shown
from edge.errors import ModelError
from edge.events import EMOTIONS, MICRO_MAX_MS, ModelRef, SlipEvent
from edge.types import AUFrame

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
MAX_EVENT_S = 6.0  # longer than any macro-expression: cut and emitted as macro
LOW_RATE_HZ = 20.0
SETTLE_S = 0.4  # a new track's neutral baseline is not settled: no slip may start this early


def default_model_path() -> Path:
    """The committed micro-event model inside the package."""
    return Path(str(resources.files("edge") / "data" / "microevent.tflite"))


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """What the spotter needs to know about a micro-event model (its JSON sidecar)."""

    rate_hz: float
    window: int
    lookahead: int
    input_clip: float
    features: tuple[str, ...]
    emotion_temperature: float
    sha256: str | None = None  # pinned digest of the .tflite; None in hand-made sidecars

    @classmethod
    def load(cls, model_path: Path) -> ModelMeta:
        """Read ``<model>.json`` next to the model file."""
        side = model_path.with_suffix(".json")
        try:
            d = json.loads(side.read_text("utf-8"))
            return cls(
                float(d["rate_hz"]),
                int(d["window"]),
                int(d["lookahead"]),
                float(d["input_clip"]),
                tuple(d["features"]),
                float(d["emotion_temperature"]),
                str(d["sha256"]) if "sha256" in d else None,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"micro-event model metadata {side} missing or invalid: {exc}"
            ) from exc


@dataclass(slots=True)
class _Track:
    resampler: GridResampler
    grid: deque[tuple[int, F32]]  # recent grid frames (window + lookahead)
    win: F32  # the model's input window: the grid's values, clipped, zero-padded on the left
    history: deque[Scored]  # scored frames kept for back-extension of an onset
    open: list[Scored] = field(default_factory=list)
    last_t: int = 0
    n_in: int = 0
    first_t: int = 0
    warned_rate: bool = False
    resume_t: int = -1  # an over-long event was cut here: the next may not reach back past it
    long: LongExpressions = field(default_factory=LongExpressions)  # appearance episodes


class Spotter:
    """Turns AUFrames into SlipEvents, one independent state per track."""

    def __init__(
        self,
        device_id: str = "dev",
        model_path: str | Path | None = None,
        *,
        runtime: str | None = None,
        num_threads: int = 1,
        enter: float = 0.6,
        leave: float = 0.4,
        min_frames: int = 3,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from edge.runtime.interpreter import Interpreter
        from edge.runtime.manifest import spec

        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise ModelError(f"micro-event model not found: {path}")
        self.meta = ModelMeta.load(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if self.meta.sha256 is not None and digest != self.meta.sha256:
            # a damaged model can still load and then spot nonsense: refuse it
            raise ModelError(
                f"micro-event model {path} failed verification: "
                f"expected sha256 {self.meta.sha256}, got {digest}"
            )
        self.model = Interpreter(path, num_threads=num_threads, runtime=runtime)
        self._slip_out, self._emo_out = self._find_outputs()
        self.model_ref = ModelRef("microevent", digest)
        # the appearance model is verified against this digest where it is loaded
        self.appearance_ref = ModelRef(APPEARANCE_MODEL, spec(APPEARANCE_MODEL).sha256)
        self.device_id = device_id
        self.enter, self.leave, self.min_frames = enter, leave, min_frames
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._tracks: dict[int, _Track] = {}
        self._names: tuple[str, ...] | None = None
        self._cols: npt.NDArray[np.intp] | None = None  # model input -> frame channel (-1: 0)
        self._frame_names: tuple[str, ...] | None = None  # the names _cols was built for
        self._proto_idx: dict[str, list[int]] = {}
        self._ctx: EventContext | None = None
        self.bad_frames = 0
        self.rejected: Counter[str] = Counter()  # spotted intervals not reported, by reason

    @property
    def uses_flow(self) -> bool:
        """Whether the model reads the region-flow channels (if not, the pipeline skips them)."""
        return any(n in FLOW_NAMES for n in self.meta.features)

    def _find_outputs(self) -> tuple[int, int]:
        sizes = [int(np.prod(o.shape)) for o in self.model.outputs]
        if sorted(sizes) != [1, len(EMOTIONS)]:
            raise ModelError(f"micro-event model outputs {sizes}: expected 1 and {len(EMOTIONS)}")
        return sizes.index(1), sizes.index(len(EMOTIONS))

    # -- public API ------------------------------------------------------------------------
    def push(self, au_frame: AUFrame) -> list[SlipEvent]:
        """Feed one AUFrame; returns the events whose offset has now been scored."""
        if self._names is None:
            self._set_context()
        names = au_frame.names
        if names is not self._frame_names:  # usually the same tuple object every frame
            self._cols = self._columns(tuple(names))
            self._frame_names = names
        x = au_frame.values
        if self._cols is not None and x.shape == (len(names),):
            x = np.where(self._cols >= 0, x[self._cols], np.float32(0.0)).astype(np.float32)
        if x.shape != (len(self.meta.features),) or not np.isfinite(x).all():
            self.bad_frames += 1
            log.debug(
                "track %d: bad feature frame at t=%d skipped", au_frame.track_id, au_frame.t_ns
            )
            return []
        tr = self._tracks.get(au_frame.track_id)
        if tr is None:
            tr = self._new_track(au_frame.t_ns)
            self._tracks[au_frame.track_id] = tr
        tr.last_t = max(tr.last_t, au_frame.t_ns)
        tr.n_in += 1
        self._check_rate(au_frame.track_id, tr)
        out: list[SlipEvent] = []
        if au_frame.appearance is not None:
            spans, out = tr.long.observe(au_frame.appearance)
            out += self._span_events(au_frame.track_id, tr, spans)
        events: list[SlipEvent] = []
        for g in tr.resampler.push(au_frame.t_ns, x.astype(np.float32)):
            if g.after_gap and tr.grid:
                events += self._drain(au_frame.track_id, tr, "gap in the stream")
                tr.grid.clear()
                tr.win[:] = 0.0
            self._append(tr, g.t_ns, g.values)
            scored = self._score(tr)
            if scored is not None:
                events += self._segment(au_frame.track_id, tr, scored)
        return out + [kept for ev in events for kept in tr.long.offer(ev)]

    def end_track(self, track_id: int) -> list[SlipEvent]:
        """A track was lost: its open expression is cut (or dropped) and its state forgotten."""
        tr = self._tracks.pop(track_id, None)
        if tr is None:
            return []
        return self._finish(track_id, tr, "track lost")

    def flush(self) -> list[SlipEvent]:
        """End of stream: score the frames still waiting for look-ahead, close every track."""
        events: list[SlipEvent] = []
        for tid in list(self._tracks):
            events += self._finish(tid, self._tracks[tid], "end of stream")
        self._tracks.clear()
        return events

    def _drain(self, track_id: int, tr: _Track, reason: str) -> list[SlipEvent]:
        """Score the frames still waiting for look-ahead, then cut what is open.

        The missing future is padded with neutral frames, as in training; an expression that
        seems to end inside that padding has no observed offset, so it is cut, not closed.
        """
        events: list[SlipEvent] = []
        for _ in range(min(self.meta.lookahead, len(tr.grid))):
            t_next = tr.grid[-1][0] + tr.resampler.period_ns
            self._append(tr, t_next, np.zeros(len(self.meta.features), np.float32))
            scored = self._score(tr)
            if scored is None:
                continue
            if tr.open and scored.p < self.leave:
                break
            events += self._segment(track_id, tr, scored)  # opens, extends or hits the cap
        return events + self._cut(track_id, tr, reason)

    def _finish(self, track_id: int, tr: _Track, reason: str) -> list[SlipEvent]:
        """Drain a track that ends, then close its appearance episode."""
        events = [kept for ev in self._drain(track_id, tr, reason) for kept in tr.long.offer(ev)]
        spans, released = tr.long.close()
        return events + released + self._span_events(track_id, tr, spans)

    def _span_events(self, track_id: int, tr: _Track, spans: list[Span]) -> list[SlipEvent]:
        """Long appearance episodes as macro events over their scored frames."""
        out: list[SlipEvent] = []
        hist = list(tr.history)
        for span in spans:
            idx = [i for i, f in enumerate(hist) if span.start_ns <= f.t_ns <= span.end_ns]
            if not idx:
                continue
            lo, hi = idx[0], idx[-1]
            stop = max(tr.resume_t, tr.long.previous_end(span))
            # fer at 10 Hz sees an onset late: reach back over frames the slip model calls active
            while lo > 0 and hist[lo - 1].p >= self.leave and hist[lo - 1].t_ns > stop:
                lo -= 1
            frames = hist[lo : hi + 1]
            if len(frames) >= self.min_frames:
                ev, _ = self._built(track_id, tr, frames, episode=True)
                if ev.type == "macro" and not_shown(ev):  # a resting face fer misreads
                    self.rejected["emotion_not_shown"] += 1
                elif ev.type == "macro":
                    out.append(ev)
        return out

    # -- internals -------------------------------------------------------------------------
    def _columns(self, names: tuple[str, ...]) -> npt.NDArray[np.intp] | None:
        """Where each model input sits among a frame's channels (None: the same order). Flow
        channels the frames lack (a recording, a geometry-only stage) are fed as zeros (-1),
        as in training; channels the model does not take are left out; any other is an error.
        """
        if names == self.meta.features:
            return None
        index = {n: i for i, n in enumerate(names)}
        missing = [n for n in self.meta.features if n not in index and n not in FLOW_NAMES]
        if missing:
            raise ModelError(
                f"AUFrames lack the micro-event model's inputs {', '.join(missing[:5])}"
            )
        return np.array([index.get(n, -1) for n in self.meta.features], np.intp)

    def _set_context(self) -> None:
        self._names = names = self.meta.features
        for emo, aus in PROTOTYPES.items():
            self._proto_idx[emo] = [
                i for i, n in enumerate(names) if n.split("_")[0] in aus and n.startswith("AU")
            ]
        self._ctx = EventContext(
            self.device_id, self.model_ref, self.appearance_ref, self._names, self._proto_idx,
            self._clock,
        )  # fmt: skip

    def _new_track(self, t_ns: int) -> _Track:
        m = self.meta
        tr = _Track(
            resampler=GridResampler(m.rate_hz),
            grid=deque(maxlen=m.window),
            win=np.zeros((m.window, len(m.features)), np.float32),
            history=deque(maxlen=int(MAX_EVENT_S * m.rate_hz) + m.window),
            first_t=t_ns,
        )
        # an appearance episode counts as activity where the slip model sees the face move
        tr.long.activity = lambda lo, hi: share(
            [f.p >= self.leave for f in tr.history if lo <= f.t_ns <= hi]
        )
        return tr

    def _check_rate(self, track_id: int, tr: _Track) -> None:
        if tr.warned_rate or tr.n_in < 30:
            return
        rate = (tr.n_in - 1) / max((tr.last_t - tr.first_t) / 1e9, 1e-9)
        tr.warned_rate = True
        if rate < LOW_RATE_HZ:
            log.warning(
                "track %d: input at %.1f fps (< %.0f): slips shorter than ~3 frames cannot be "
                "resolved and may be missed",
                track_id,
                rate,
                LOW_RATE_HZ,
            )

    def _append(self, tr: _Track, t_ns: int, values: F32) -> None:
        """A new grid frame: kept with its time, and shifted into the model's window."""
        tr.grid.append((t_ns, values))
        tr.win[:-1] = tr.win[1:]  # numpy copies overlapping slices safely
        np.clip(values, -self.meta.input_clip, self.meta.input_clip, out=tr.win[-1])

    def _score(self, tr: _Track) -> Scored | None:
        """Run the model on the window ending at the newest grid frame (zero-padded on the left)."""
        m = self.meta
        n = len(tr.grid)
        if n <= m.lookahead:
            return None
        self.model.set_input(tr.win[None])
        self.model.invoke()
        p = float(self.model.output_float(self._slip_out).reshape(-1)[0])
        logits = self.model.output_float(self._emo_out).reshape(-1) / m.emotion_temperature
        e = np.exp(logits - logits.max())
        t_ns, x = tr.grid[n - 1 - m.lookahead]
        s = Scored(t_ns, x, p, (e / e.sum()).astype(np.float32))
        tr.history.append(s)
        return s

    def _segment(self, track_id: int, tr: _Track, s: Scored) -> list[SlipEvent]:
        """Hysteresis on the slip probability; returns an event when one closes."""
        if not tr.open:
            if s.p >= self.enter and (s.t_ns - tr.first_t) / 1e9 >= SETTLE_S:
                # back-extend the onset over the preceding frames above the leave threshold
                back: list[Scored] = []
                for prev in reversed(list(tr.history)[:-1]):
                    if (
                        prev.p < self.leave
                        or prev.t_ns <= tr.resume_t
                        or (prev.t_ns - tr.first_t) / 1e9 < SETTLE_S
                    ):
                        break
                    back.append(prev)
                tr.open = [*reversed(back), s]
            return []
        if s.p >= self.leave:
            tr.open.append(s)
            if (s.t_ns - tr.open[0].t_ns) / 1e9 > MAX_EVENT_S:
                log.info("track %d: expression longer than %.0f s cut", track_id, MAX_EVENT_S)
                tr.resume_t = s.t_ns
                return self._close(track_id, tr)
            return []
        return self._close(track_id, tr)

    def _close(self, track_id: int, tr: _Track) -> list[SlipEvent]:
        frames, tr.open = tr.open, []
        if len(frames) < self.min_frames:
            return []
        return self._expression(track_id, tr, frames)

    def _cut(self, track_id: int, tr: _Track, reason: str) -> list[SlipEvent]:
        """An open expression meets a gap, a lost track or the end: emit if certainly macro."""
        frames, tr.open = tr.open, []
        if not frames:
            return []
        dur_ms = (frames[-1].t_ns - frames[0].t_ns) / 1e6
        if dur_ms > MICRO_MAX_MS and len(frames) >= self.min_frames:
            log.info("track %d: %s during an expression: cut at %.0f ms", track_id, reason, dur_ms)
            return self._expression(track_id, tr, frames)
        log.info(
            "track %d: %s during an expression (%.0f ms so far): dropped, its length and type "
            "are unknown",
            track_id,
            reason,
            dur_ms,
        )
        return []

    def _built(
        self, track_id: int, tr: _Track, frames: list[Scored], episode: bool = False
    ) -> tuple[SlipEvent, AUListing]:
        assert self._ctx is not None  # set with the feature names by the first push
        return build_event(self._ctx, track_id, frames, tr.history, tr.long, tr.last_t, episode)

    def _expression(self, track_id: int, tr: _Track, frames: list[Scored]) -> list[SlipEvent]:
        """The event of a spotted interval, unless no facial action moved in it."""
        ev, listing = self._built(track_id, tr, frames)
        why = not_an_expression(ev, listing)
        if why is None:
            return [ev]
        self.rejected[why] += 1
        log.debug("track %d: %.0f ms interval not reported (%s)", track_id, ev.duration_ms, why)
        return []
