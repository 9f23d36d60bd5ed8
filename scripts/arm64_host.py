"""Host side of scripts/arm64-check: tools, binfmt_misc, apt mirrors, broker, native reference.

Standard library only: it runs with the system python3 before any venv exists.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_ENTRY = BINFMT / "qemu-aarch64"
REPO = Path(__file__).resolve().parent.parent
# Suites of the emulated Pi userland; backports is a host-only source for a newer qemu.
ROOTFS_SUITES = ("{s}", "{s}-updates", "{s}-security")
BACKPORTS_LIST = Path("/etc/apt/sources.list.d/microslip-backports.sources")


class CheckFailed(Exception):
    """The Pi install or a run inside the emulated userland broke."""


class Skip(Exception):
    """This machine genuinely cannot run foreign binaries through binfmt_misc."""


# ---------------------------------------------------------------- apt sources


def apt_entries() -> list[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every enabled ``deb`` source on this host."""
    out: list[tuple[str, list[str], list[str]]] = []
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        if f == BACKPORTS_LIST or not f.is_file():
            continue
        if f.name.endswith(".list") or f.name == "sources.list":
            for raw in f.read_text().splitlines():
                words = re.sub(r"\[[^]]*\]", "", raw.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    out.append((words[1], [words[2]], words[3:]))
        elif f.name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", f.read_text()):
                fields: dict[str, str] = {}
                for raw in stanza.splitlines():
                    if raw.startswith("#") or ":" not in raw or raw[0].isspace():
                        continue
                    key, val = raw.split(":", 1)
                    fields[key.strip().lower()] = val.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    out.append(
                        (
                            uri,
                            fields.get("suites", "").split(),
                            fields.get("components", "").split(),
                        )
                    )
    return out


def debian_mirror_lines(suite: str) -> list[str]:
    """mmdebstrap mirror lines for ``suite``, taken from the Debian mirror apt already uses."""
    override = os.environ.get("MICROSLIP_ARM64_MIRRORS")
    if override:
        return [line.strip() for line in override.split("|") if line.strip()]
    wanted = [s.format(s=suite) for s in ROOTFS_SUITES]
    lines: list[str] = []
    entries = apt_entries()
    for uri, suites, comps in entries:
        for s in suites:
            if s in wanted and "main" in comps:
                lines.append(f"deb {uri} {s} main")
    if not any(f" {suite} " in line for line in lines):
        # A host on another Debian release: same mirror, our suite names.
        for uri, _suites, comps in entries:
            if "main" in comps and uri.rstrip("/").endswith("/debian"):
                lines = [f"deb {uri} {suite} main", f"deb {uri} {suite}-updates main"]
            if "main" in comps and uri.rstrip("/").endswith("/debian-security"):
                lines.append(f"deb {uri} {suite}-security main")
    if not any(f" {suite} " in line for line in lines):
        raise CheckFailed(
            "no Debian mirror found in /etc/apt/sources*; set "
            "MICROSLIP_ARM64_MIRRORS='deb URI bookworm main|...'"
        )
    return list(dict.fromkeys(lines))


# ---------------------------------------------------------------- host tools, binfmt


def os_codename() -> str:
    """VERSION_CODENAME from /etc/os-release ('' when unknown)."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return ""
    m = re.search(r"^VERSION_CODENAME=\"?([^\"\n]*)", text, re.M)
    return m.group(1) if m else ""


def apt_install(packages: list[str], backports: list[str]) -> None:
    """apt-get install packages; ``backports`` from bookworm-backports on a Bookworm host."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if backports and os_codename() == "bookworm":
        uri = next(
            (u for u, _s, c in apt_entries() if "main" in c and u.rstrip("/").endswith("/debian")),
            None,
        )
        if uri is None:
            raise CheckFailed("no Debian mirror in the apt sources to add bookworm-backports")
        BACKPORTS_LIST.write_text(
            f"Types: deb\nURIs: {uri}\nSuites: bookworm-backports\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        print(f"added {BACKPORTS_LIST} (qemu 10: Debian 12's qemu 7.2 crashes in ai-edge-litert)")
    else:
        packages, backports = packages + backports, []
    _run(["apt-get", "update", "-qq"], env)
    if packages:
        _run(["apt-get", "install", "-y", "-qq", *packages], env)
    if backports:
        _run(["apt-get", "install", "-y", "-qq", "-t", "bookworm-backports", *backports], env)


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    print("+ " + " ".join(cmd), flush=True)
    if subprocess.run(cmd, env=env).returncode != 0:
        raise CheckFailed(f"host command failed: {' '.join(cmd)}")


def prepare(install: bool) -> int:
    """Make aarch64 binaries run here (tools, binfmt_misc, qemu); return qemu's major version."""
    machine = os.uname().machine
    if machine not in ("x86_64", "amd64"):
        raise Skip(f"written for an x86_64 host emulating arm64, this is {machine}")
    if os.geteuid() != 0:
        raise Skip("needs root to mount binfmt_misc/proc and chroot (run with sudo)")
    tools = {"mmdebstrap": "mmdebstrap", "update-binfmts": "binfmt-support", "zstd": "zstd"}
    missing = [pkg for tool, pkg in tools.items() if shutil.which(tool) is None]
    need_qemu = not Path("/usr/bin/qemu-aarch64-static").exists()
    if missing or need_qemu:
        if not install:
            raise CheckFailed(f"missing host packages: {missing + ['qemu-user-static']}")
        apt_install(missing, ["qemu-user-static"] if need_qemu else [])
    if not (BINFMT / "status").exists():
        proc = subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise Skip(
                f"cannot mount binfmt_misc here ({proc.stderr.strip()}); "
                "a container without privileges cannot run foreign binaries"
            )
    if QEMU_ENTRY.exists():
        # With the F flag the kernel keeps the qemu binary open from registration time, even
        # after an upgrade replaced it: register again so the installed qemu is the one used.
        QEMU_ENTRY.write_text("-1")
    register_qemu()
    entry = QEMU_ENTRY.read_text()
    flags = re.search(r"^flags: (\S*)", entry, re.M)
    # F (fix binary): the kernel opens qemu at registration, so it works inside the chroot.
    if not flags or "F" not in flags.group(1):
        raise CheckFailed(f"qemu-aarch64 is registered without the F flag:\n{entry}")
    interp = re.search(r"^interpreter (\S+)", entry, re.M)
    # Debian registers a -P wrapper (a symlink) that refuses --version: ask its target.
    qemu = os.path.realpath(interp.group(1)) if interp else "/usr/bin/qemu-aarch64-static"
    text = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\d+)\.(\d+)", text)
    if not m:
        raise CheckFailed(f"cannot tell the version of {qemu}: {text!r}")
    print(f"qemu-aarch64 {m.group(1)}.{m.group(2)} ({qemu}), flags {flags.group(1)}")
    return int(m.group(1))


def register_qemu() -> None:
    """Register qemu-aarch64 with binfmt-support, or from a binfmt.d file as systemd would."""
    if (
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"]).returncode == 0
        and QEMU_ENTRY.exists()
    ):
        return
    for conf in sorted(Path("/usr/lib/binfmt.d").glob("qemu-aarch64*.conf")):
        line = next((ln for ln in conf.read_text().splitlines() if ln.startswith(":")), "")
        if line:
            try:
                (BINFMT / "register").write_text(line)
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.EACCES):
                    raise Skip(f"cannot register with binfmt_misc: {exc}") from exc
                if exc.errno != errno.EEXIST:
                    raise
            break
    if not QEMU_ENTRY.exists():
        raise CheckFailed("could not register qemu-aarch64 in binfmt_misc")


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (to never delete through a live mount)."""
    prefix = str(root.resolve())
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1] for line in fh]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


# ---------------------------------------------------------------- broker, native reference


def start_mosquitto(port: int, work: Path) -> subprocess.Popen[bytes]:
    """A private mosquitto on 127.0.0.1:port (never the system one), ready to accept."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(binary, os.X_OK):
        raise CheckFailed("mosquitto is not installed (apt-get install mosquitto)")
    conf = work / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.terminate()
    raise CheckFailed(f"mosquitto did not start on port {port}")


def check_config(port: int, clip: str, state: str) -> str:
    """A microslip config for the emulated Pi: the private broker, the clip as its camera.

    picamera2 comes from Raspberry Pi's apt repository, not reachable here, so the camera
    is replaced by the clip.
    """
    return (
        f'[device]\nid = "pi-check"\n\n[camera]\nsource = "{clip}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n\n'
        f'[state]\ndir = "{state}"\n'
    )


def make_reference(
    host_py: str, src: Path, work: Path, clip_dir: Path, frames: int, replay: bool
) -> Path:
    """Cut the first frames of a real clip (lossless) and replay them natively.

    The native run imports ``edge`` from ``src``, the very copy the emulated Pi installs.
    """
    env = dict(os.environ)
    clip_dir.mkdir(parents=True, exist_ok=True)
    clip = clip_dir / f"single_face-{frames}.mkv"
    ref = REPO / "scripts" / "arm64_reference.py"
    _run([host_py, str(ref), "cut", "--dst", str(clip), "--frames", str(frames)], env)
    if replay:
        native = work / "native"
        native.mkdir(exist_ok=True)
        _run(
            [
                host_py,
                str(ref),
                "replay",
                "--src",
                str(src),
                "--",
                str(clip),
                "--frames-out",
                str(native / "frames.jsonl"),
                "--events-out",
                str(native / "events.jsonl"),
            ],
            env,
        )
    return clip
