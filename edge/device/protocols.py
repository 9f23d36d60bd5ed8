"""What the service loop needs from its collaborators: processor, source, sink, listeners.

Fakes in tests and the real classes (``edge.pipeline.Pipeline``, ``edge.sources`` sources,
``edge.device.publisher.Publisher``, ``edge.device.web.LiveHub``) all satisfy these structurally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from edge.device.stats import Stats
from edge.events import SlipEvent
from edge.types import FaceFrame, Frame


class StepResult(Protocol):
    """What one pipeline step returns (``edge.pipeline.PipelineResult`` satisfies it)."""

    @property
    def face_frame(self) -> FaceFrame: ...
    @property
    def events(self) -> Sequence[SlipEvent]: ...
    @property
    def stage_times(self) -> dict[str, float]: ...


class Processor(Protocol):
    """The per-frame work: ``edge.pipeline.Pipeline`` or a test's own implementation."""

    def process(self, frame: Frame) -> StepResult: ...
    def process_faces(self, face_frame: FaceFrame) -> StepResult: ...
    def finish(self) -> Sequence[SlipEvent]: ...
    @property
    def appearance_counts(self) -> Mapping[str, int]:
        """Appearance readings taken (``ok``) and faces skipped per reason; empty when off."""
        ...


class EventSink(Protocol):
    """Where stored events go next: :class:`edge.device.publisher.Publisher`."""

    def wake(self) -> None: ...
    def publish_stats(self, stats: Stats) -> None: ...
    def flush(self, timeout: float) -> bool: ...
    def stop(self, flush_timeout: float = 5.0) -> None: ...


class ServiceListener(Protocol):
    """Optional observer of the service (e.g. a web dashboard)."""

    def on_event(self, event: SlipEvent) -> None: ...
    def on_stats(self, stats: Stats) -> None: ...
