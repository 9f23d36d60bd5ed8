"""One TFLite interpreter wrapper over ai-edge-litert (preferred) or tflite-runtime.

The runtime is chosen by argument, else ``$MICROSLIP_RUNTIME`` (``litert`` | ``tflite`` |
``auto``), else whichever is installed, ai-edge-litert first (faster int8 via XNNPACK).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.errors import ConfigError, InputError, ModelError

log = logging.getLogger(__name__)

RUNTIMES: dict[str, str] = {
    "litert": "ai_edge_litert.interpreter",
    "tflite": "tflite_runtime.interpreter",
}


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """Index, name, shape, dtype and affine quantisation (scale, zero point) of a tensor."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        """True for an integer tensor with a real-valued scale (int8/uint8 models)."""
        return self.scale != 0.0 and self.dtype.kind in "iu"


def available_runtimes() -> list[str]:
    """Names of the installed runtimes, in preference order."""
    found = []
    for name, module in RUNTIMES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        found.append(name)
    return found


def resolve_runtime(runtime: str | None = None) -> str:
    """Pick a runtime name from the argument, ``$MICROSLIP_RUNTIME`` or what is installed."""
    choice = (runtime or os.environ.get("MICROSLIP_RUNTIME") or "auto").strip().lower()
    if choice not in (*RUNTIMES, "auto"):
        raise ConfigError(
            f"unknown TFLite runtime {choice!r} (MICROSLIP_RUNTIME): use litert, tflite or auto"
        )
    names = list(RUNTIMES) if choice == "auto" else [choice]
    for name in names:
        try:
            importlib.import_module(RUNTIMES[name])
        except ImportError:
            continue
        return name
    wanted = "ai-edge-litert or tflite-runtime" if choice == "auto" else RUNTIMES[choice]
    raise ConfigError(
        f"TFLite runtime {wanted} is not installed: pip install 'microslip[litert]' "
        "(64-bit) or 'microslip[tflite]' (32-bit / numpy<2)"
    )


def quantize(values: npt.ArrayLike, info: TensorInfo) -> npt.NDArray[Any]:
    """Real values to the integer representation of a quantised tensor (round, clip)."""
    arr = np.asarray(values, dtype=np.float32)
    if not info.quantized:
        same: npt.NDArray[Any] = arr.astype(info.dtype, copy=False)
        return same
    lo, hi = _limits(info.dtype)
    q = np.rint(arr / np.float32(info.scale)) + info.zero_point
    out: npt.NDArray[Any] = np.clip(q, lo, hi).astype(info.dtype)
    return out


@functools.lru_cache(maxsize=8)
def _limits(dtype: np.dtype[Any]) -> tuple[int, int]:
    """Integer range of a dtype (np.iinfo is slow enough to matter once per model call)."""
    lim = np.iinfo(dtype)
    return int(lim.min), int(lim.max)


def dequantize(values: npt.ArrayLike, info: TensorInfo) -> npt.NDArray[np.float32]:
    """Integer tensor values to real float32 values (identity for float tensors)."""
    arr = np.asarray(values)
    if not info.quantized:
        return arr.astype(np.float32, copy=False)
    real: npt.NDArray[np.float32] = (arr.astype(np.float32) - np.float32(info.zero_point)) * (
        np.float32(info.scale)
    )
    return real


# What the TFLite runtime's C++ logger prints to fd 2 on the first allocate_tensors().
_BANNERS = (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)


@contextlib.contextmanager
def _runtime_banner_hidden() -> Iterator[None]:
    """Send fd 2 to a file while the runtime loads a model; pass on all but its INFO banner.

    The banner opened every command's output (and every journal start-up); the runtime has
    no switch for it, so it is filtered at the file descriptor. Real errors still show.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to hide
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            rest = [
                ln for ln in tmp.read().splitlines(keepends=True) if ln.rstrip() not in _BANNERS
            ]
            if rest:
                os.write(2, b"".join(rest))


class Interpreter:
    """A loaded TFLite model: write inputs, invoke, read outputs; one per thread."""

    def __init__(self, model_path: Path, *, num_threads: int = 1, runtime: str | None = None):
        self.runtime = resolve_runtime(runtime)
        module = importlib.import_module(RUNTIMES[self.runtime])
        self.path = Path(model_path)
        try:
            with _runtime_banner_hidden():
                self._it = module.Interpreter(model_path=str(self.path), num_threads=num_threads)
                self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load model {self.path}: {exc}") from exc
        self.inputs = tuple(_info(d) for d in self._it.get_input_details())
        self.outputs = tuple(_info(d) for d in self._it.get_output_details())
        self._views = [self._it.tensor(t.index) for t in self.inputs]
        log.debug("loaded %s with %s (%d threads)", self.path.name, self.runtime, num_threads)

    def input_view(self, i: int = 0) -> npt.NDArray[Any]:
        """A writable view of input ``i``'s buffer; drop it before :meth:`invoke`.

        Writing preprocessed pixels straight into the interpreter saves one copy per frame.
        """
        view: npt.NDArray[Any] = self._views[i]()
        return view

    def set_input(self, values: npt.ArrayLike, i: int = 0) -> None:
        """Copy ``values`` into input ``i`` (quantised first for an int8/uint8 input)."""
        info = self.inputs[i]
        arr = np.asarray(values)
        if arr.shape != info.shape:
            raise InputError(
                f"{self.path.name} input {info.name}: shape {arr.shape}, expected {info.shape}"
            )
        if info.quantized and arr.dtype.kind not in "iu":
            arr = quantize(arr, info)
        self._it.set_tensor(info.index, arr.astype(info.dtype, copy=False))

    def invoke(self) -> None:
        """Run the model on the current inputs."""
        self._it.invoke()

    def output(self, i: int = 0) -> npt.NDArray[Any]:
        """A copy of output ``i`` in its stored dtype."""
        out: npt.NDArray[Any] = self._it.get_tensor(self.outputs[i].index)
        return out

    def output_float(self, i: int = 0) -> npt.NDArray[np.float32]:
        """Output ``i`` as real float32 values (dequantised when the tensor is quantised)."""
        return dequantize(self.output(i), self.outputs[i])

    def run(self, *inputs: npt.ArrayLike) -> list[npt.NDArray[np.float32]]:
        """Set every input, invoke, return every output as float32 (convenience, not hot path)."""
        for i, values in enumerate(inputs):
            self.set_input(values, i)
        self.invoke()
        return [self.output_float(i) for i in range(len(self.outputs))]


def _info(d: dict[str, Any]) -> TensorInfo:
    scale, zero = d.get("quantization", (0.0, 0))
    return TensorInfo(
        index=int(d["index"]),
        name=str(d["name"]),
        shape=tuple(int(s) for s in d["shape"]),
        dtype=np.dtype(d["dtype"]),
        scale=float(scale),
        zero_point=int(zero),
    )


def load_model(
    name: str,
    *,
    num_threads: int = 1,
    runtime: str | None = None,
    directory: Path | None = None,
) -> Interpreter:
    """Verify manifest model ``name`` by sha256, load it and check its tensor shapes."""
    from edge.runtime.manifest import spec, verified_path

    interp = Interpreter(verified_path(name, directory), num_threads=num_threads, runtime=runtime)
    entry = spec(name)
    got = [t.shape for t in interp.inputs] + [t.shape for t in interp.outputs]
    want = [t.shape for t in entry.inputs] + [t.shape for t in entry.outputs]
    if got != want:
        raise ModelError(f"model {name}: tensor shapes {got} differ from the manifest {want}")
    return interp
