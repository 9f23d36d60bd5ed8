"""Models and the TFLite runtime: ``interpreter`` (ai-edge-litert or tflite-runtime),
``manifest`` (the sha256-pinned model manifest, fetch and verify) and ``downloads``
(the cache and wheel downloads from PyPI)."""

from edge.runtime.interpreter import Interpreter, TensorInfo, load_model

__all__ = ["Interpreter", "TensorInfo", "load_model"]
