"""Training sequences from the image-space cache: cached landmarks -> the runtime's features.

Each cached sequence is turned into a ``training.generator.Sequence`` exactly as a device
would see it: ``edge.brain.au_geometry.measure`` per frame with a face, the runtime's
``NeutralBaseline`` (taught by the cached appearance verdicts at the appearance stage's
rate, as on a device), the runtime's region flow (``edge.brain.flow.FlowTracker``) on the
cached aligned crops, then resampling to the model rate; frames without a face are dropped
frames. Labels come from the script (expressions active between onset and offset).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.brain.appearance import QUALITIES, ReadingSchedule
from edge.brain.au_geometry import measure
from edge.brain.features import (
    FRAME_NAMES,
    NeutralBaseline,
    looks_neutral,
    relative_features,
)
from edge.brain.flow import cached_flow
from edge.brain.resample import resample_sequence
from edge.events import EMOTIONS
from edge.types import Appearance, AUFrame
from training.generator import MODEL_RATE, Sequence


def observed_au_frames(z: dict[str, np.ndarray], track_id: int = 0) -> list[AUFrame]:
    """The AUFrames a device would hand the spotter, from one observed (cached) sequence: the
    runtime's measure, neutral baseline, appearance reading schedule and region flow."""
    lm, t_all, probs, quality = z["landmarks"], z["t_ns"], z["appearance"], z["quality"]
    has_face = np.isfinite(lm[:, 0, 0])
    crops = z["crops"]
    flow = cached_flow(crops, t_all, has_face & crops.reshape(len(crops), -1).any(1))
    base = NeutralBaseline()
    schedule = ReadingSchedule()  # the appearance stage's: full rate while the face moves
    out = []
    for i in np.flatnonzero(has_face):
        t = int(t_all[i])
        app = None
        if schedule.due(track_id, t, base.frozen):
            p = probs[i].astype(np.float32) if np.isfinite(probs[i]).all() else None
            app = Appearance(t, track_id, QUALITIES[int(quality[i])], p)
        verdict = None if app is None or app.probs is None else looks_neutral(app.probs)
        raw_au, pose = measure(lm[i])
        x = np.concatenate([relative_features(raw_au, pose, base, t, verdict), flow[i]])
        out.append(AUFrame(t, track_id, x, FRAME_NAMES, app))
    return out


def sequence_from(entry: dict, data: dict[str, np.ndarray]) -> Sequence | None:  # type: ignore[type-arg]
    """One cached sequence as a labelled feature Sequence (None without enough face frames)."""
    if np.isfinite(data["landmarks"][:, 0, 0]).sum() < 32:
        return None
    frames = observed_au_frames(data)
    t_ns = np.array([f.t_ns for f in frames], np.int64)
    x = np.stack([f.values for f in frames])
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
            keys = ("landmarks", "t_ns", "appearance", "quality", "crops")
            seq = sequence_from(entry, {k: z[k] for k in keys})
        if seq is not None:
            out.append(seq)
    return out
