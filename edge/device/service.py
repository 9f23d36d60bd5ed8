"""The fixed-rate device loop: capture thread -> 1-slot handoff -> pipeline -> outbox -> MQTT.

The camera is never blocked by processing: a capture thread reads frames and leaves only the
newest in a one-slot handoff; a frame replaced before the loop took it is dropped and
counted (``dropped_handoff``), never queued. The loop processes, stores each event in the
outbox *before* the publisher sees it, pets the systemd watchdog only while frames flow,
and publishes stats every ``[mqtt] stats_interval`` seconds. ``stop()`` (SIGTERM) lets the
current frame finish, flushes the spotter and the outbox, and publishes ``offline``.

Listeners (:class:`ServiceListener`), e.g. a local web page, get ``on_event(event)`` after an
event is stored and ``on_stats(stats)`` after each stats tick, on the loop thread: return fast.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config import Config
from edge.device.handoff import Item, LatestFrame
from edge.device.notify import Notifier, status_text
from edge.device.outbox import Outbox
from edge.device.protocols import EventSink, Processor, ServiceListener
from edge.device.sysinfo import cpu_temperature_c, rss_mb
from edge.errors import ModelError
from edge.events import SlipEvent, event_to_json
from edge.types import FaceFrame

__all__ = ["Service"]
from edge.device.stats import Stats
from edge.device.topics import events_topic

if TYPE_CHECKING:  # never at run time: prometheus_client is imported only when enabled
    from edge.device.metrics import LoopMetrics
from edge.sources.base import Source

log = logging.getLogger(__name__)

WATCHDOG_EVERY_S = 1.0
MAX_FAILED_IN_A_ROW = 100  # consecutive frames the pipeline rejects before the service gives up
STATUS_LOG_S = 60.0  # a status line in the log at most this often (stats go out more often)
IDLE_AFTER_NS = 10**9  # no face for this long (stream time): the idle duty cycle starts


@dataclasses.dataclass
class _Interval:
    """Accumulators reset at every stats tick."""

    start: float
    processed: int = 0
    captured: int = 0
    process_s: float = 0.0
    stages: dict[str, float] = dataclasses.field(default_factory=dict)


class Service:
    """Runs one source through one processor until the source ends or ``stop()`` is called."""

    def __init__(
        self,
        cfg: Config,
        processor: Processor,
        open_source: Callable[[], Source[Any]],
        outbox: Outbox,
        sink: EventSink | None,
        *,
        notifier: Notifier | None = None,
        realtime: bool = True,
        flush_timeout: float = 10.0,
    ) -> None:
        self.cfg = cfg
        self.processor = processor
        self.open_source = open_source
        self.outbox = outbox
        self.sink = sink
        self.notifier = notifier or Notifier()
        # A file plays at its own rate (realtime); realtime=False runs it as fast as possible
        # without dropping (benchmarks, bulk replays).
        self.realtime = realtime
        self.flush_timeout = flush_timeout
        self.topic = events_topic(cfg.base_topic)
        self._slot = LatestFrame(lossless=not realtime)
        self._stop = threading.Event()
        self._listeners: list[ServiceListener] = []
        self.web: Any = None  # edge.device.web.WebServer when [web] enabled (start_web)
        self.metrics: LoopMetrics | None = None  # [metrics] enabled: edge.device.metrics
        self._source: Source[Any] | None = None
        self._source_dropped_done = 0
        self._bad_done = 0
        self.capture_error: BaseException | None = None
        # counters over the whole run
        self.frames = 0
        self.captured = 0
        self.overruns = 0
        self.idle_skipped = 0
        self.failed_frames = 0
        self._failed_in_a_row = 0
        self.process_s_total = 0.0
        self._idle_count = 0
        self._last_face_ns = -(10**18)
        self.faces = 0
        self.slips = 0
        self.fps = 0.0
        self._slip_times: collections.deque[float] = collections.deque()
        # (t_ns, monotonic arrival) of recent frames: event latency is measured from the
        # moment the frame at an event's offset arrived (about 30 s at 60 fps).
        self._arrivals: collections.deque[tuple[int, float]] = collections.deque(maxlen=2048)
        self.latencies_ms: collections.deque[float] = collections.deque(maxlen=1000)
        self._period_s = 1.0 / (cfg.camera.fps or 30.0)
        self._started = time.monotonic()
        self._last_watchdog = 0.0
        self._next_status_log = self._started  # the first at the first stats tick
        self._interval = _Interval(start=self._started)
        self._ready = False
        self.with_temperature = cpu_temperature_c() is not None

    # ------------------------------------------------------------------ public
    def add_listener(self, listener: ServiceListener) -> None:
        """Register an observer of events and stats (see module docstring)."""
        self._listeners.append(listener)

    def stop(self) -> None:
        """Ask the loop to finish the current frame, flush and exit (signal-safe)."""
        self._stop.set()
        self._slot.close()

    @property
    def store_errors(self) -> int:
        """Events the disk refused (each was kept in memory and still published)."""
        return self.outbox.put_errors

    @property
    def appearance_counts(self) -> dict[str, int]:
        """Faces the appearance channel classified (``ok``) and skipped, per reason."""
        return dict(self.processor.appearance_counts)

    @property
    def dropped_frames(self) -> int:
        """Frames lost anywhere: at the sensor/source plus replaced in the handoff."""
        live = self._source.dropped if self._source is not None else 0
        return self._source_dropped_done + live + self._slot.dropped

    def run(self) -> int:
        """Process until the source ends (file, no loop) or stop(); returns an exit code."""
        capture = threading.Thread(target=self._capture, name="capture", daemon=True)
        capture.start()
        try:
            self._loop()
        finally:
            self.stop()
            capture.join(timeout=5.0)
            self._shutdown()
        if self.capture_error is not None:
            raise self.capture_error
        return 0

    # ------------------------------------------------------------------ capture thread
    def _capture(self) -> None:
        offset_ns = 0
        offset_index = 0
        try:
            while not self._stop.is_set():
                src = self.open_source()
                self._source = src
                self._period_s = 1.0 / src.fps if src.fps > 0 else self._period_s
                last_t, last_i = 0, 0
                wall0: float | None = None
                t0 = 0
                try:
                    for item in src:
                        if self._stop.is_set():
                            break
                        last_t, last_i = item.t_ns, item.index
                        if offset_ns:
                            item = dataclasses.replace(
                                item, t_ns=item.t_ns + offset_ns, index=item.index + offset_index
                            )
                        if self.realtime and not self.cfg.camera.is_live:
                            # Play a file at its own frame rate, as a camera would deliver it.
                            if wall0 is None:
                                wall0, t0 = time.monotonic(), item.t_ns
                            delay = wall0 + (item.t_ns - t0) / 1e9 - time.monotonic()
                            if delay > 0 and self._stop.wait(delay):
                                break
                        self._arrivals.append((item.t_ns, time.monotonic()))
                        self.captured += 1
                        self._interval.captured += 1
                        self._slot.put(item)
                finally:
                    self._source_dropped_done += src.dropped
                    self._bad_done += src.bad_frames
                    self._source = None
                    src.close()
                if not self.cfg.camera.loop or self.cfg.camera.is_live:
                    break
                offset_ns += last_t + round(self._period_s * 1e9)
                offset_index += last_i + 1
        except BaseException as exc:  # reported by run(): the service exits non-zero
            log.error("frame source failed: %s", exc)
            self.capture_error = exc
        finally:
            self._slot.close()

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        next_stats = time.monotonic() + self.cfg.mqtt.stats_interval
        while True:
            item = self._slot.take(timeout=0.5)
            now = time.monotonic()
            if item is not None:
                if self._idle_skip(item):
                    self.idle_skipped += 1
                else:
                    self._step_or_count(item)
                if not self._ready:
                    self._ready = True
                    self.notifier.ready(f"processing {self._describe_source()}")
                    log.info("first frame processed: service ready")
                if now - self._last_watchdog >= WATCHDOG_EVERY_S:
                    # Only here, after a frame: a stalled camera stops these and systemd acts.
                    self.notifier.watchdog()
                    self._last_watchdog = now
            if now >= next_stats:
                self._tick_stats(now)
                next_stats = now + self.cfg.mqtt.stats_interval
            if item is None and self._slot.closed:
                break
            if self._stop.is_set():
                break

    def _idle_skip(self, item: Item) -> bool:
        """True for the frames left out while nobody is in view (idle duty cycle)."""
        every = self.cfg.pipeline.idle_every
        if every <= 1 or isinstance(item, FaceFrame) or not self.frames or self.faces:
            return False
        if item.t_ns - self._last_face_ns < IDLE_AFTER_NS:
            return False
        # Detection on every frame of an empty room costs as much as tracking a face; a
        # face that walks in is still found within `every` frames.
        self._idle_count += 1
        return self._idle_count % every != 0

    def _step_or_count(self, item: Item) -> None:
        """Process one frame; a frame that fails is counted and skipped, a run of them is fatal."""
        try:
            self._step(item)
        except ModelError:
            raise  # a missing or corrupt model fails every frame: stop now, naming the file
        except Exception as exc:
            self.failed_frames += 1
            self._failed_in_a_row += 1
            if self._failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                # Not a bad frame but a broken pipeline: exit non-zero so systemd restarts us.
                raise
            if self.failed_frames <= 10 or self.failed_frames % 1000 == 0:
                log.warning("frame %d skipped (%d so far): %s", item.index, self.failed_frames, exc)
        else:
            self._failed_in_a_row = 0

    def _step(self, item: Item) -> None:
        t = time.perf_counter()
        if isinstance(item, FaceFrame):
            result = self.processor.process_faces(item)
        else:
            result = self.processor.process(item)
        dt = time.perf_counter() - t
        self.process_s_total += dt
        if self.metrics is not None:  # plain counter bumps; the scrape does the rest
            self.metrics.observe(dt, result.stage_times)
        self.frames += 1
        self.faces = len(result.face_frame.faces)
        if self.faces:
            self._last_face_ns = item.t_ns
        iv = self._interval
        iv.processed += 1
        iv.process_s += dt
        for name, seconds in result.stage_times.items():
            iv.stages[name] = iv.stages.get(name, 0.0) + seconds
        if dt > self._period_s:
            self.overruns += 1
        for event in result.events:
            self._emit(event)

    def _emit(self, event: SlipEvent) -> None:
        # a full or failing disk does not raise: the outbox holds the event in memory
        self.outbox.put(event.id, self.topic, event_to_json(event).encode())
        if self.sink is not None:
            self.sink.wake()
        self.slips += 1
        now = time.monotonic()
        self._slip_times.append(now)
        arrived = self.frame_arrival(event.offset_ns)
        if arrived is not None:
            self.latencies_ms.append((now - arrived) * 1000.0)
        log.info("slip %s: %s %s %.0f ms", event.id, event.type, event.emotion, event.duration_ms)
        for listener in self._listeners:
            try:
                listener.on_event(event)
            except Exception:
                log.exception("listener %r failed on an event", listener)

    def frame_arrival(self, t_ns: int) -> float | None:
        """Monotonic time at which the first frame at or after ``t_ns`` reached the loop."""
        for t, wall in list(self._arrivals):
            if t >= t_ns:
                return wall
        return None

    def stats(self, now: float | None = None) -> Stats:
        """The stats document published on ``<prefix>/<id>/stats``."""
        now = time.monotonic() if now is None else now
        iv = self._interval
        span = max(now - iv.start, 1e-9)
        while self._slip_times and self._slip_times[0] < now - 3600:
            self._slip_times.popleft()
        n = max(iv.processed, 1)
        src = self._source
        appearance = self.appearance_counts
        return Stats(
            time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            device=self.cfg.device.id,
            uptime_s=round(now - self._started, 1),
            fps=round(iv.processed / span, 2),
            capture_fps=round(iv.captured / span, 2),
            frames=self.frames,
            dropped_frames=self.dropped_frames,
            dropped_handoff=self._slot.dropped,
            bad_frames=self._bad_done + (src.bad_frames if src is not None else 0),
            overruns=self.overruns,
            idle_skipped=self.idle_skipped,
            failed_frames=self.failed_frames,
            process_ms=round(1000.0 * iv.process_s / n, 2),
            stage_ms={k: round(1000.0 * v / n, 3) for k, v in iv.stages.items()},
            faces=self.faces,
            slips_total=self.slips,
            slips_last_hour=len(self._slip_times),
            outbox_depth=self.outbox.depth,
            outbox_dropped=self.outbox.dropped,
            store_errors=self.outbox.put_errors,
            outbox_memory=self.outbox.in_memory,
            events_lost=self.outbox.lost,
            appearance_readings=appearance.get("ok", 0),
            appearance_skipped=sum(n for k, n in appearance.items() if k != "ok"),
            cpu_temperature_c=cpu_temperature_c(),
            rss_mb=round(rss_mb(), 1),
        )

    def _tick_stats(self, now: float) -> None:
        stats = self.stats(now)
        self.fps = stats.fps
        self._interval = _Interval(start=now)
        self.notifier.status(status_text(stats))
        if now >= self._next_status_log:
            # the line a person watching journalctl -f sees every minute
            self._next_status_log = now + STATUS_LOG_S
            log.info("status: %s", status_text(stats))
        if self.sink is not None:
            self.sink.publish_stats(stats)
        for listener in self._listeners:
            try:
                listener.on_stats(stats)
            except Exception:
                log.exception("listener %r failed on stats", listener)

    def _shutdown(self) -> None:
        self.notifier.stopping()
        try:
            for event in self.processor.finish():
                self._emit(event)
        except Exception:
            log.exception("pipeline finish failed; events already stored are kept")
        if self.sink is not None:
            self.sink.flush(self.flush_timeout)
        self._tick_stats(time.monotonic())  # the final stats show what is left, if anything
        if self.sink is not None:
            self.sink.stop(flush_timeout=0.0)
        self.outbox.settle()  # a disk that works again takes what memory holds
        lost = self.outbox.lost + self.outbox.in_memory
        log.log(
            logging.WARNING if lost else logging.INFO,
            "stopped: %d frames, %d slips, %d dropped, %d overruns, %d left in the outbox, "
            "%d events lost",
            self.frames,
            self.slips,
            self.dropped_frames,
            self.overruns,
            self.outbox.depth - self.outbox.in_memory,
            lost,
        )
        self.notifier.close()

    def _describe_source(self) -> str:
        return Path(self.cfg.camera.source).name
