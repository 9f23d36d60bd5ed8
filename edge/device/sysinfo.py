"""Readings about the machine for the stats topic: SoC temperature and resident memory."""

from __future__ import annotations

from pathlib import Path


def cpu_temperature_c(root: Path = Path("/sys/class/thermal")) -> float | None:
    """The SoC temperature in °C from the first readable thermal zone, else None."""
    zones = sorted(root.glob("thermal_zone*"))
    # Prefer a zone named like the CPU (Pi: "cpu-thermal"); else the first that reads.
    zones.sort(key=lambda z: 0 if "cpu" in _read(z / "type") else 1)
    for zone in zones:
        raw = _read(zone / "temp")
        if raw.strip().lstrip("-").isdigit():
            return int(raw) / 1000.0
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux), else 0."""
    for line in _read(Path("/proc/self/status")).splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0
