"""Image-space sequences for training, mixed with the landmark-space generator.

The rendered set is small next to the generator (hundreds of sequences, not thousands), so
its chunks are cut with more overlap and repeated with fresh feature jitter at the level of
real still footage; a tenth of the sequences (whole sequences) is kept apart for validation
and the emotion temperature.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edge.brain.flow import N_FLOW
from training.generator import JITTER, Sequence
from training.imagespace.cache import (
    CACHE_ROOT,
    TRAIN_N,
    TRAIN_SEEDS,
    settings_key,
    train_config,
)

log = logging.getLogger(__name__)

# added jitter of the flow channels (units: 0.05 inter-ocular distances): the flow
# experiment's setting (commit 559b846), not a measured still-face spread
FLOW_JITTER = 0.05
# share of the jittered copies whose flow channels are zeroed, as in a stream without images
# (a landmark recording): the model must still spot from the geometry alone
FLOW_DROPOUT = 0.3


def default_caches(n: int = TRAIN_N, root: Path = CACHE_ROOT) -> list[Path]:
    """Directories of the training renders that ``make train`` builds (one per seed)."""
    return [root / settings_key(train_config(seed), "train", seed, n) for seed in TRAIN_SEEDS]


def split(seqs: list[Sequence], val_every: int = 10) -> tuple[list[Sequence], list[Sequence]]:
    """Whole sequences apart for validation: every ``val_every``-th."""
    val = [s for i, s in enumerate(seqs) if i % val_every == val_every - 1]
    tr = [s for i, s in enumerate(seqs) if i % val_every != val_every - 1]
    return tr, val


def augment(seqs: list[Sequence], copies: int, seed: int) -> list[Sequence]:
    """``copies`` versions of every sequence: the original and ones with added still jitter
    (a ``FLOW_DROPOUT`` share of them without their flow channels)."""
    rng = np.random.default_rng(seed)
    out = list(seqs)
    for _ in range(copies - 1):
        for s in seqs:
            jitter = np.concatenate([JITTER, np.full(s.x.shape[1] - len(JITTER), FLOW_JITTER)])
            x = s.x + (rng.normal(0, 1, s.x.shape) * jitter * rng.uniform(0.3, 1.0)).astype(
                np.float32
            )
            if s.x.shape[1] > len(JITTER) and rng.random() < FLOW_DROPOUT:
                x[:, -N_FLOW:] = 0.0
            shift = int(rng.integers(0, 40))  # a different chunk phase
            pad = np.zeros((shift, x.shape[1]), np.float32)
            out.append(
                Sequence(
                    s.t_ns,
                    np.concatenate([pad, x]),
                    np.concatenate([np.zeros(shift, np.float32), s.active]),
                    np.concatenate([np.full(shift, -1, np.int64), s.emotion]),
                    s.events,
                    s.nuisances,
                    s.fps,
                )  # fmt: skip
            )
    return out


def load(caches: list[Path], copies: int, seed: int) -> tuple[list[Sequence], list[Sequence]]:
    """(train, val) image-space sequences from cache directories."""
    from training.imagespace.dataset import load_sequences

    seqs: list[Sequence] = []
    for cache in caches:
        if not (cache / "manifest.json").exists():
            raise SystemExit(f"{cache}: no image-space cache; run `python -m training.imagespace`")
        seqs += load_sequences(cache)
    tr, val = split(seqs)
    log.info("image-space: %d train + %d val sequences from %s", len(tr), len(val), caches)
    return augment(tr, copies, seed), val
