"""Training sequences from the image-space cache: cached landmarks -> the runtime's features.

Each cached sequence is turned into a ``training.generator.Sequence`` exactly as a device
would see it: ``edge.brain.au_geometry.measure`` per frame with a face, the runtime's
``NeutralBaseline`` (taught by the cached appearance verdicts at the appearance stage's
rate, as on a device), then resampling to the model rate; frames without a face are dropped
frames. Labels come from the script (expressions active between onset and offset).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.brain.appearance import ReadingSchedule
from edge.brain.au_geometry import measure
from edge.brain.features import NeutralBaseline, looks_neutral, relative_features
from edge.brain.resample import resample_sequence
from edge.events import EMOTIONS
from training.generator import MODEL_RATE, Sequence


def sequence_from(entry: dict, data: dict[str, np.ndarray]) -> Sequence | None:  # type: ignore[type-arg]
    """One cached sequence as a labelled feature Sequence (None without enough face frames)."""
    lm = data["landmarks"]
    ok = np.isfinite(lm[:, 0, 0])
    if ok.sum() < 32:
        return None
    t_all = data["t_ns"]
    probs = data.get("appearance")
    base = NeutralBaseline()
    rel = []
    schedule = ReadingSchedule()
    for i in np.flatnonzero(ok):
        raw_au, pose = measure(lm[i])
        t = int(t_all[i])
        verdict = None
        # the appearance verdict on the runtime's schedule (full rate while the face moves)
        due = probs is not None and schedule.due(0, t, base.frozen)
        if due and np.isfinite(probs[i]).all():
            verdict = looks_neutral(probs[i])
        rel.append(relative_features(raw_au, pose, base, t, verdict))
    t_ns = t_all[ok].astype(np.int64)
    x = np.stack(rel)
    g_t, g_x, _ = resample_sequence(t_ns, x, MODEL_RATE)
    tg = g_t / 1e9
    active = np.zeros(len(tg), np.float32)
    emotion = np.full(len(tg), -1, np.int64)
    events = []
    for on, apex, off, emo, kind in entry["events"]:
        m = (tg >= on) & (tg <= off)
        active[m] = 1.0
        emotion[m] = EMOTIONS.index(emo)
        events.append((int(on * 1e9), int(apex * 1e9), int(off * 1e9), emo, kind))
    nuis = [(int(a * 1e9), int(b * 1e9), k) for a, b, k in entry["nuisances"]]
    return Sequence(g_t, g_x, active, emotion, events, nuis, float(entry["fps"]), t_ns, x)


def load_sequences(cache: Path) -> list[Sequence]:
    """Every usable sequence of one cache directory, in manifest order."""
    manifest = json.loads((cache / "manifest.json").read_text())
    out = []
    for entry in manifest["sequences"]:
        with np.load(cache / entry["file"]) as z:
            seq = sequence_from(entry, {k: z[k] for k in ("landmarks", "t_ns", "appearance")})
        if seq is not None:
            out.append(seq)
    return out
