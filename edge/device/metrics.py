"""Prometheus ``/metrics`` for the device: ``[metrics] enabled``, off by default, loopback only.

The camera loop pays for two things: :meth:`LoopMetrics.observe` once per processed frame (a
bisect and a few integer bumps per stage) and :meth:`LoopMetrics.on_event` once per slip (one
dict bump). Every other number is read when Prometheus scrapes, on the HTTP server's thread,
from the objects that already keep it: the service's counters, the outbox, the publisher,
``/sys`` for the temperature and ``/proc`` for the process collector. Nothing here takes a
lock the loop could wait on; the GIL makes each integer bump atomic, and a scrape that lands
between two bumps of one frame is off by that one frame, never corrupt.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from edge import __version__
from edge.brain.appearance import QUALITIES
from edge.config import Config
from edge.device.sysinfo import cpu_temperature_c
from edge.errors import ModelError
from edge.events import EMOTIONS, SlipEvent

log = logging.getLogger(__name__)

# Seconds. Stages take 0.1-10 ms on a Pi; a whole frame must fit in 8-33 ms (120-30 fps).
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.25)
_LE = tuple(repr(float(b)) for b in BUCKETS) + ("+Inf",)
SLIP_TYPES = ("micro", "macro")
THERMAL_ROOT = Path("/sys/class/thermal")


class _Histogram:
    """Bucket counts (not cumulative) and a sum; written by one thread, read by the scrape."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (le = "less or equal")
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> tuple[list[tuple[str, float]], float]:
        counts, total = list(self.counts), self.total
        out, running = [], 0
        for le, n in zip(_LE, counts, strict=True):
            running += n
            out.append((le, float(running)))
        return out, total


class LoopMetrics:
    """What the camera loop updates: per-stage and per-frame times, slips by emotion and type.

    Also a :class:`edge.device.service.ServiceListener`: ``on_event`` counts the slip.
    """

    def __init__(self) -> None:
        self.frame = _Histogram()
        self.stages: dict[str, _Histogram] = {}
        # Every known label pair from the start: rate() and increase() need the zero sample.
        self.slips: dict[tuple[str, str], int] = {(e, t): 0 for e in EMOTIONS for t in SLIP_TYPES}

    def observe(self, seconds: float, stage_times: Mapping[str, float]) -> None:
        """One processed frame: its total processing time and each stage's (seconds)."""
        self.frame.observe(seconds)
        for name, s in stage_times.items():
            h = self.stages.get(name)
            if h is None:
                h = self.stages[name] = _Histogram()
            h.observe(s)

    def on_event(self, event: SlipEvent) -> None:
        """ServiceListener hook: one slip stored (or lost and counted) by the service."""
        key = (event.emotion, event.type)
        self.slips[key] = self.slips.get(key, 0) + 1

    def on_stats(self, stats: object) -> None:
        """ServiceListener hook: nothing to do, the scrape reads the service directly."""


class _Outbox(Protocol):
    @property
    def depth(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def lost(self) -> int: ...


class ServiceView(Protocol):
    """The service counters a scrape reads (:class:`edge.device.service.Service` has them)."""

    frames: int
    faces: int
    fps: float
    overruns: int
    failed_frames: int
    idle_skipped: int

    @property
    def store_errors(self) -> int: ...

    @property
    def outbox(self) -> _Outbox: ...

    @property
    def dropped_frames(self) -> int: ...

    @property
    def appearance_counts(self) -> Mapping[str, int]: ...


class PublisherView(Protocol):
    """What a scrape reads from :class:`edge.device.publisher.Publisher`."""

    connected: threading.Event
    rejected: int


class DeviceCollector:
    """A prometheus_client collector: builds every ``microslip_*`` family at scrape time."""

    def __init__(
        self,
        loop: LoopMetrics,
        service: ServiceView,
        publisher: PublisherView | None,
        build: Mapping[str, str],
        thermal_root: Path = THERMAL_ROOT,
    ) -> None:
        self.loop = loop
        self.service = service
        self.publisher = publisher
        self.build = dict(build)
        self.thermal_root = thermal_root

    def collect(self) -> Iterator[Metric]:
        """Called by the registry on every scrape."""
        yield from self._counters()
        yield from self._gauges()
        yield from self._histograms()
        yield InfoMetricFamily("microslip_build", "Version and model sha256s", value=self.build)

    def _counters(self) -> Iterator[Metric]:
        svc = self.service
        for name, doc, value in (
            ("frames", "Frames processed by the pipeline", svc.frames),
            ("dropped_frames", "Frames lost at the sensor or replaced in the handoff",
             svc.dropped_frames),
            ("overruns", "Frames whose processing took longer than one frame period",
             svc.overruns),
            ("failed_frames", "Frames the pipeline rejected (counted and skipped)",
             svc.failed_frames),
            ("idle_skipped_frames", "Frames left out by the idle duty cycle", svc.idle_skipped),
            ("outbox_dropped", "Oldest events dropped because the outbox was full (lifetime)",
             svc.outbox.dropped),
        ):  # fmt: skip
            yield CounterMetricFamily(f"microslip_{name}", doc, value=value)
        slips = CounterMetricFamily(
            "microslip_slips", "Slips spotted, by emotion and type", labels=("emotion", "type")
        )
        for (emotion, kind), n in list(self.loop.slips.items()):
            slips.add_metric((emotion, kind), n)
        yield slips
        lost = CounterMetricFamily(
            "microslip_events_lost",
            "Events that will never reach the broker: store_error (the disk refused it and "
            "memory could not hold it until acknowledged), "
            "outbox_full (same as microslip_outbox_dropped_total), rejected (by the broker)",
            labels=("reason",),
        )
        lost.add_metric(("store_error",), svc.outbox.lost)
        lost.add_metric(("outbox_full",), svc.outbox.dropped)
        lost.add_metric(("rejected",), self.publisher.rejected if self.publisher else 0)
        yield lost
        faces = CounterMetricFamily(
            "microslip_appearance_faces",
            "Faces the appearance channel classified (result=ok) or skipped (too_small, "
            "cut_by_edge, implausible, occluded): a skipped face's events rest on geometry only",
            labels=("result",),
        )
        counts = svc.appearance_counts
        for result in QUALITIES:
            faces.add_metric((result,), counts.get(result, 0))
        yield faces

    def _gauges(self) -> Iterator[Metric]:
        svc = self.service
        yield GaugeMetricFamily(
            "microslip_fps",
            "Frames processed per second over the last stats interval (the stats topic's fps)",
            value=svc.fps,
        )
        yield GaugeMetricFamily("microslip_faces", "Faces in the last frame", value=svc.faces)
        yield GaugeMetricFamily(
            "microslip_outbox_depth", "Events stored and not yet acknowledged by the broker",
            value=svc.outbox.depth,
        )  # fmt: skip
        if self.publisher is not None:
            yield GaugeMetricFamily(
                "microslip_mqtt_connected", "1 while the broker has accepted the connection",
                value=1.0 if self.publisher.connected.is_set() else 0.0,
            )  # fmt: skip
        temp = cpu_temperature_c(self.thermal_root)
        if temp is not None:  # absent where unreadable: no made-up zero in anybody's graph
            yield GaugeMetricFamily(
                "microslip_cpu_temperature_celsius", "SoC temperature", value=temp
            )

    def _histograms(self) -> Iterator[Metric]:
        frame = HistogramMetricFamily(
            "microslip_frame_seconds", "Processing time of one frame, all stages", unit="seconds"
        )
        buckets, total = self.loop.frame.cumulative()
        frame.add_metric((), buckets, total)
        yield frame
        stages = HistogramMetricFamily(
            "microslip_stage_seconds",
            "Time per frame in each pipeline stage ('faces' is the whole face stage)",
            labels=("stage",),
            unit="seconds",
        )
        for name, h in sorted(self.loop.stages.copy().items()):
            buckets, total = h.cumulative()
            stages.add_metric((name,), buckets, total)
        yield stages


def build_info(cfg: Config) -> dict[str, str]:
    """``microslip_build_info`` labels: version, device, mesh and the pinned model sha256s."""
    from edge.brain.spotting import ModelMeta, default_model_path
    from edge.face.detector import MODEL_NAME
    from edge.face.landmarks import MESHES
    from edge.runtime.manifest import spec

    info = {"version": __version__, "device": cfg.device.id, "mesh": cfg.pipeline.mesh}
    # The manifest's pins: the face stage refuses any model file that does not match them.
    info["detector_sha256"] = spec(MODEL_NAME).sha256
    info["mesh_sha256"] = spec(MESHES[cfg.pipeline.mesh].model).sha256
    try:
        info["spotter_sha256"] = ModelMeta.load(default_model_path()).sha256 or ""
    except ModelError as exc:  # the spotter itself fails loudly at start; not our job here
        log.warning("metrics: %s", exc)
    return info


def make_registry(collector: DeviceCollector) -> CollectorRegistry:
    """A registry of our own (never the global one): the device, the process, the platform."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class MetricsServer:
    """prometheus_client's HTTP server on ``bind:port``; a busy port is logged, never fatal."""

    def __init__(self, registry: CollectorRegistry, bind: str, port: int) -> None:
        self.registry = registry
        self.bind = bind
        self.requested_port = port
        self.port = 0
        self._httpd: object = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Listen; False (logged once) when the address cannot be bound."""
        try:
            httpd, thread = start_http_server(
                self.requested_port, addr=self.bind, registry=self.registry
            )
        except OSError as exc:
            log.error(
                "metrics: cannot listen on %s:%d (%s); running on without /metrics",
                self.bind,
                self.requested_port,
                exc.strerror or exc,
            )
            return False
        self._httpd, self._thread = httpd, thread
        self.port = int(httpd.server_address[1])
        log.info("metrics: Prometheus endpoint on http://%s:%d/metrics", self.bind, self.port)
        return True

    def stop(self) -> None:
        """Stop serving and close the socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()  # type: ignore[attr-defined]
        httpd.server_close()  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=5.0)


class _Attachable(ServiceView, Protocol):
    metrics: LoopMetrics | None

    def add_listener(self, listener: LoopMetrics) -> None: ...


def attach_metrics(
    cfg: Config, service: _Attachable, publisher: PublisherView | None
) -> MetricsServer | None:
    """Serve ``/metrics`` for ``service`` when the port can be bound; hook the loop only then."""
    loop = LoopMetrics()
    collector = DeviceCollector(loop, service, publisher, build_info(cfg))
    server = MetricsServer(make_registry(collector), cfg.metrics.bind, cfg.metrics.port)
    if not server.start():
        return None  # the loop is never hooked: zero cost, as when disabled
    service.metrics = loop
    service.add_listener(loop)
    return server
