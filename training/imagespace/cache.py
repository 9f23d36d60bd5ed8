"""Build and read the image-space training cache (rendered, then seen by the real face stage).

    python -m training.imagespace.cache [--n 400] [--split train] [--workers 2]

One directory per settings hash under ``build/imagespace/`` holds ``manifest.json`` (the
settings, code version and one entry per sequence) and ``seq_NNNNN.npz`` per sequence with
what the face stage saw (landmarks, presence, appearance, aligned crops). Features are
computed from the cached landmarks at train time (``load_sequences``), so a change of the
model or of training options does not re-render. See /work/scratch/brainB/CACHE.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from training.imagespace.script import RenderConfig, Script, make_script

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
CACHE_ROOT = ROOT / "build" / "imagespace"
CODE_VERSION = 6  # bump when rendering changes in a way the settings do not show
TRAIN_N = 320  # sequences per seed of the training render (`make train`)
TRAIN_SEEDS = (11, 12)


def train_config(seed: int) -> RenderConfig:
    """Render settings of one training seed: the second covers the device's whole range
    (24-60 fps, stronger noise and compression, smaller faces)."""
    if seed == TRAIN_SEEDS[1]:
        return RenderConfig(
            fps_choices=(24.0, 25.0, 30.0, 50.0, 60.0), noise=(1.0, 8.0), jpeg_q=(35, 95),
            iod_px=(26.0, 90.0),
        )  # fmt: skip
    return RenderConfig()


def settings_key(cfg: RenderConfig, split: str, seed: int, n: int) -> str:
    """Short hash naming the cache directory of one rendered set."""
    blob = json.dumps({"cfg": asdict(cfg), "split": split, "seed": seed, "n": n,
                       "code": CODE_VERSION}, sort_keys=True, default=str)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _script_for(seed: int, i: int, cfg: RenderConfig, faces: list[str]) -> tuple[Script, int]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
    face = faces[int(rng.integers(len(faces)))]
    return make_script(rng, cfg, face), int(rng.integers(2**31))


def render_one(args: tuple[int, int, RenderConfig, list[str], str]) -> dict[str, object]:
    """Render sequence ``i`` and write its npz; returns its manifest entry."""
    seed, i, cfg, faces, out_dir = args
    from training.imagespace.faces import face_by_name
    from training.imagespace.render import Rig, observe, render

    path = Path(out_dir) / f"seq_{i:05d}.npz"
    script, rseed = _script_for(seed, i, cfg, faces)
    entry: dict[str, object] = {
        "file": path.name, "fps": script.fps, "frames": script.n, "face": script.face,
        "source": script.source, "iod_px": round(script.iod_px, 2),
        "events": [list(e) for e in script.events],
        "nuisances": [list(x) for x in script.nuisances],
    }  # fmt: skip
    if path.exists():
        return entry
    rig = _rig(script.face, face_by_name, Rig)
    obs = observe(render(script, rig, np.random.default_rng(rseed)), script.fps, script.n)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp, t_ns=obs.t_ns, landmarks=obs.landmarks, presence=obs.presence,
        appearance=obs.appearance, quality=obs.quality, crops=obs.crops,
    )  # fmt: skip
    os.replace(tmp, path)
    return entry


_RIGS: dict[str, object] = {}


def _rig(name, face_by_name, rig_cls):  # type: ignore[no-untyped-def]
    if name not in _RIGS:
        _RIGS[name] = rig_cls.build(face_by_name(name))
    return _RIGS[name]


def _init_worker() -> None:
    os.nice(10)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger().setLevel(logging.WARNING)


def build(
    n: int, split: str = "train", seed: int = 11, cfg: RenderConfig | None = None,
    workers: int = 2, root: Path = CACHE_ROOT,
) -> Path:  # fmt: skip
    """Render (or reuse) ``n`` sequences of ``split`` faces; returns the cache directory."""
    from training.imagespace.faces import SPECS

    cfg = cfg or RenderConfig()
    out = root / settings_key(cfg, split, seed, n)
    out.mkdir(parents=True, exist_ok=True)
    faces = [s.name for s in SPECS if s.split == split]
    jobs = [(seed, i, cfg, faces, str(out)) for i in range(n)]
    t0 = time.time()
    if workers > 1:
        with get_context("spawn").Pool(min(workers, 2), initializer=_init_worker) as pool:
            entries = list(pool.imap(render_one, jobs, chunksize=4))
    else:
        entries = [render_one(j) for j in jobs]
    manifest = {"format": "microslip-imagespace/1", "split": split, "seed": seed, "n": n,
                "code_version": CODE_VERSION, "settings": asdict(cfg),
                "sequences": entries}  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str) + "\n")
    log.info("%d sequences in %s (%.0f s)", n, out, time.time() - t0)
    return out


def main() -> None:
    """Command-line entry point: render a set into the cache."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=TRAIN_N)
    ap.add_argument("--split", default="train")
    ap.add_argument("--seed", type=int, nargs="+", default=list(TRAIN_SEEDS))
    ap.add_argument("--workers", type=int, default=2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = ap.parse_args()
    for seed in args.seed:
        cfg = train_config(seed)
        print(build(args.n, args.split, seed, cfg, workers=args.workers))  # noqa: T201


if __name__ == "__main__":
    main()
