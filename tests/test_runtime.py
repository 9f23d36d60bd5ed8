"""The TFLite wrapper: runtime choice, (de)quantisation, and parity between runtimes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import ConfigError, InputError
from edge.runtime.interpreter import TensorInfo, dequantize, load_model, quantize, resolve_runtime

INT8 = TensorInfo(0, "x", (4,), np.dtype(np.int8), scale=0.05, zero_point=-3)
UINT8 = TensorInfo(0, "x", (4,), np.dtype(np.uint8), scale=1 / 255, zero_point=0)
FLOAT = TensorInfo(0, "x", (4,), np.dtype(np.float32), scale=0.0, zero_point=0)
HAS_TFLITE = importlib.util.find_spec("tflite_runtime") is not None
HAS_LITERT = importlib.util.find_spec("ai_edge_litert") is not None


def test_quantize_rounds_and_clips_to_int8() -> None:
    q = quantize([0.0, 0.05, -0.26, 100.0], INT8)
    assert q.dtype == np.int8
    assert q.tolist() == [-3, -2, -8, 127]


def test_dequantize_inverts_quantize_within_half_a_step() -> None:
    x = np.linspace(-6.0, 6.0, 41, dtype=np.float32)
    back = dequantize(quantize(x, INT8), INT8)
    assert back.dtype == np.float32
    assert np.abs(back - x).max() <= INT8.scale / 2 + 1e-6
    assert dequantize(np.array([0, 255], np.uint8), UINT8).tolist() == pytest.approx([0.0, 1.0])


def test_float_tensors_pass_through_unchanged() -> None:
    x = np.array([0.1, -2.0, 3.5, 0.0], np.float32)
    assert not FLOAT.quantized and INT8.quantized
    assert np.array_equal(dequantize(quantize(x, FLOAT), FLOAT), x)


def test_unknown_runtime_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown TFLite runtime 'onnx'"):
        resolve_runtime("onnx")
    monkeypatch.setenv("MICROSLIP_RUNTIME", "gpu")
    with pytest.raises(ConfigError, match="MICROSLIP_RUNTIME"):
        resolve_runtime()


def test_auto_prefers_litert_and_env_can_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MICROSLIP_RUNTIME", raising=False)
    assert resolve_runtime() == ("litert" if HAS_LITERT else "tflite")
    monkeypatch.setenv("MICROSLIP_RUNTIME", "tflite")
    if HAS_TFLITE:
        assert resolve_runtime() == "tflite"
    else:
        with pytest.raises(ConfigError, match="not installed"):
            resolve_runtime()


def test_wrong_input_shape_is_an_input_error(face_models: Path) -> None:
    model = load_model("face_detection_short_range", directory=face_models)
    with pytest.raises(InputError, match=r"expected \(1, 128, 128, 3\)"):
        model.set_input(np.zeros((1, 64, 64, 3), np.float32))


def test_detector_scores_a_real_face_high_and_a_blank_image_low(
    face_models: Path, pyfeat_dir: Path
) -> None:
    model = load_model("face_detection_short_range", directory=face_models)
    img = cv2.cvtColor(cv2.imread(str(pyfeat_dir / "single_face.jpg")), cv2.COLOR_BGR2RGB)
    x = cv2.resize(img, (128, 128)).astype(np.float32)[None] / 127.5 - 1.0
    face_logits = model.run(x)[1]
    blank_logits = model.run(np.zeros((1, 128, 128, 3), np.float32))[1]
    assert face_logits.max() > 1.0 > blank_logits.max()


def _landmarks(runtime: str, face_models: Path, image: np.ndarray) -> np.ndarray:
    from edge.face.tracker import FaceTracker
    from edge.types import Frame

    tracker = FaceTracker(max_faces=1, runtime=runtime, models_dir=face_models)
    faces = tracker.process(Frame(0, 0, image)).faces
    assert len(faces) == 1
    return faces[0].landmarks


@pytest.mark.skipif(not (HAS_TFLITE and HAS_LITERT), reason="needs tflite-runtime and litert")
def test_tflite_runtime_and_litert_give_the_same_landmarks(
    face_models: Path, pyfeat_dir: Path
) -> None:
    """Runtime parity on a real image: `make test-tflite` runs this in .venv-tflite."""
    img = cv2.cvtColor(cv2.imread(str(pyfeat_dir / "single_face.jpg")), cv2.COLOR_BGR2RGB)
    a = _landmarks("litert", face_models, img)
    b = _landmarks("tflite", face_models, img)
    assert np.abs(a[:, :2] - b[:, :2]).max() <= 0.05
