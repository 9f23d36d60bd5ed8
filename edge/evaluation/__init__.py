"""Evaluation: ground truth (clip annotations, dataset tables) and spotting metrics."""

from __future__ import annotations

from edge.evaluation.annotations import ClipAnnotation, Segment, load_annotation
from edge.evaluation.generated import run_generated
from edge.evaluation.metrics import EvalReport, Stream, evaluate

__all__ = [
    "ClipAnnotation",
    "EvalReport",
    "Segment",
    "Stream",
    "evaluate",
    "load_annotation",
    "run_generated",
]
