"""Train the micro-event model on generated + image-space data; export full-integer int8 TFLite.

    make train      # = .venv-train/bin/python -m training.train

A small dilated temporal conv net (no recurrent layers: the int8 converter cannot take them)
reads a 32-frame window of features at 30 fps and scores the frame ``LOOKAHEAD`` frames before
the window's end: slip probability (an expression is under way) and 7 emotion logits. It is
trained fully convolutionally on whole sequences (generated and image-space), then exported for
one window. ``--members`` (6) such nets are trained with consecutive seeds on the same data and
exported as one model that averages their slip probabilities and emotion logits: single
retrains differ by +-0.015 development F1 and in which real-clip fluctuations they call slips,
their average less (models/MODEL_CARD.md).
Writes models/microevent.tflite (+ copy in edge/data/), models/microevent.json (metadata and
calibration), tests/data/microevent_validation.npz (windows + float outputs for the int8
agreement test) and training/out/history.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from edge.brain.features import FRAME_NAMES
from edge.events import EMOTIONS
from training.generator import MODEL_RATE, GenConfig, Sequence, generate_set

log = logging.getLogger("train")
ROOT = Path(__file__).resolve().parents[1]
WINDOW = 32
LOOKAHEAD = 5
TARGET = WINDOW - 1 - LOOKAHEAD  # index of the scored frame inside a window
CHUNK = 160
WIDTH = 64
INPUT_CLIP = 4.0
# model inputs: the geometric features and the flow channels (generated sequences have no
# pixels: their flow channels are zeros, as in a stream without images)
K = len(FRAME_NAMES)


def chunks(seqs: list[Sequence]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut sequences (left-padded with neutral frames) into fixed-length training chunks."""
    xs, act, emo = [], [], []
    for s in seqs:
        sx = np.clip(s.x, -INPUT_CLIP, INPUT_CLIP)
        if sx.shape[1] < K:
            sx = np.concatenate([sx, np.zeros((len(sx), K - sx.shape[1]), np.float32)], 1)
        x = np.concatenate([np.zeros((TARGET, K), np.float32), sx])
        x = np.concatenate([x, np.zeros((LOOKAHEAD, K), np.float32)])
        a = np.concatenate([np.zeros(TARGET), s.active, np.zeros(LOOKAHEAD)])
        e = np.concatenate([np.full(TARGET, -1), s.emotion, np.full(LOOKAHEAD, -1)])
        for st in range(0, max(1, len(x) - CHUNK + 1), CHUNK // 2):
            seg = slice(st, st + CHUNK)
            if len(x[seg]) < CHUNK:
                break
            xs.append(x[seg])
            # output j scores frame j + TARGET of the chunk
            act.append(a[seg][TARGET : CHUNK - LOOKAHEAD])
            emo.append(e[seg][TARGET : CHUNK - LOOKAHEAD])
    return np.stack(xs), np.stack(act).astype(np.float32), np.stack(emo).astype(np.int64)


def build_model(width: int = WIDTH, name: str = "microevent"):  # type: ignore[no-untyped-def]
    """Dilated valid-padded conv stack: receptive field exactly WINDOW frames."""
    import keras
    from keras import layers

    inp = keras.Input(shape=(None, K), name="features")
    h = layers.Conv1D(width, 2, activation="relu", name="c0")(inp)
    for i, d in enumerate((1, 2, 4, 8)):
        h = layers.Conv1D(width, 3, dilation_rate=d, activation="relu", name=f"c{i + 1}")(h)
    h = layers.Conv1D(width, 1, activation="relu", name="mix")(h)
    slip = layers.Conv1D(1, 1, activation="sigmoid", name="slip")(h)
    emotion = layers.Conv1D(len(EMOTIONS), 1, name="emotion")(h)
    return keras.Model(inp, [slip, emotion], name=name)


def ensemble(members: list):  # type: ignore[no-untyped-def, type-arg]
    """One model averaging its members' slip probabilities and emotion logits (a single
    model when there is one member)."""
    import keras
    from keras import layers

    if len(members) == 1:
        return members[0]
    inp = keras.Input(shape=(None, K), name="features")
    outs = [m(inp) for m in members]
    slip = layers.Average(name="slip_mean")([o[0] for o in outs])
    emotion = layers.Average(name="emotion_mean")([o[1] for o in outs])
    return keras.Model(inp, [slip, emotion], name="microevent")


def fit_member(model, xtr, atr, etr, xva, ava, eva, args, histories) -> None:  # type: ignore[no-untyped-def]
    """Compile and fit one member; its loss history is appended to ``histories``."""
    import keras
    import tensorflow as tf

    def emo_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        y = tf.cast(y_true, tf.int32)
        mask = tf.cast(y >= 0, tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(y, 0), y_pred)
        return tf.reduce_sum(ce * mask) / (tf.reduce_sum(mask) + 1.0)

    def slip_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        # frames outside expressions weigh `neg_weight`: a false slip costs more than a late one
        p = tf.clip_by_value(y_pred, 1e-6, 1.0 - 1e-6)
        bce = -(y_true * tf.math.log(p) + (1.0 - y_true) * tf.math.log(1.0 - p))
        w = y_true + (1.0 - y_true) * args.neg_weight
        return tf.reduce_mean(bce * w)

    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(args.lr, args.epochs * (len(xtr) // 64 + 1))
        ),
        loss=[slip_loss, emo_loss],
        loss_weights=[1.0, 0.5],
    )
    hist = model.fit(
        xtr,
        [atr[..., None], etr],
        validation_data=(xva, [ava[..., None], eva]),
        batch_size=64,
        epochs=args.epochs,
        shuffle=True,
        verbose=2,
    )
    histories.append(hist.history)


def train(args: argparse.Namespace) -> None:
    """Generate data, train, calibrate, export and write the validation fixture."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    t0 = time.time()
    train_seqs = generate_set(args.seed, args.n_train, GenConfig())
    val_seqs = generate_set(args.seed + 1000, args.n_val, GenConfig())
    if args.imagespace != "none":
        from training.imagespace import mix

        caches = (
            mix.default_caches()
            if args.imagespace == "auto"
            else [Path(p) for p in args.imagespace.split(",")]
        )
        is_train, is_val = mix.load(caches, args.imagespace_copies, args.seed)
        train_seqs += is_train
        val_seqs += is_val
    xtr, atr, etr = chunks(train_seqs)
    xva, ava, eva = chunks(val_seqs)
    log.info("data: %d train chunks, %d val chunks (%.0f s)", len(xtr), len(xva), time.time() - t0)

    # Retraining with another seed (or thread count) moves the development F1 by +-0.015 and
    # changes which real-clip fluctuations become slips: the members' average is steadier.
    members, histories = [], []
    for i in range(args.members):
        keras.utils.set_random_seed(args.seed + i)
        member = build_model(args.width, name=f"member{i}")
        fit_member(member, xtr, atr, etr, xva, ava, eva, args, histories)
        members.append(member)
    model = ensemble(members)
    log.info("trained in %.0f s", time.time() - t0)

    # temperature for calibrated emotion confidence, fitted on validation active frames
    _, logits = model.predict(xva, verbose=0)
    m = eva >= 0
    lg, yy = logits[m], eva[m]
    best_t, best_nll = 1.0, np.inf
    for temp in np.linspace(0.5, 8.0, 76):  # wide: image-space validation is hard
        z = lg / temp
        z = z - z.max(1, keepdims=True)
        nll = float(-(z[np.arange(len(yy)), yy] - np.log(np.exp(z).sum(1))).mean())
        if nll < best_nll:
            best_t, best_nll = float(temp), nll
    log.info("emotion temperature %.2f (val NLL %.3f)", best_t, best_nll)

    export(model, xtr, xva, ava, eva, best_t, args, histories)


def windows_of(x: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random WINDOW-frame windows from chunks, with the output position each scores."""
    ci = rng.integers(0, len(x), n)
    st = rng.integers(0, x.shape[1] - WINDOW + 1, n)
    return np.stack([x[c, s : s + WINDOW] for c, s in zip(ci, st, strict=True)]), np.stack(
        [ci, st], 1
    )


def export(model, xtr, xva, ava, eva, temperature, args, histories) -> None:  # type: ignore[no-untyped-def]
    """Full-integer int8 TFLite export, metadata sidecar and the validation fixture."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False))
    conc = fn.get_concrete_function(tf.TensorSpec([1, WINDOW, K], tf.float32))
    rng = np.random.default_rng(args.seed)
    rep, _ = windows_of(xtr, 600, rng)

    def representative():  # type: ignore[no-untyped-def]
        for w in rep:
            yield [w[None].astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([conc], fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    blob = conv.convert()
    root = Path(args.root)
    for sub in ("models", "edge/data", "tests/data", "training/out"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    out = root / "models" / "microevent.tflite"
    out.write_bytes(blob)
    shutil.copyfile(out, root / "edge" / "data" / "microevent.tflite")
    log.info("int8 model: %d bytes -> %s", len(blob), out)

    # validation fixture: windows whose scored frame lies inside an expression, plus a few
    # neutral ones, with the float model's outputs
    vw, pos = windows_of(xva, 4000, rng)
    lab = eva[pos[:, 0], pos[:, 1]]
    act = ava[pos[:, 0], pos[:, 1]]
    pick = np.concatenate([np.flatnonzero(lab >= 0)[:200], np.flatnonzero(lab < 0)[:50]])
    vw, lab, act = vw[pick], lab[pick], act[pick]
    vw = vw.astype(np.float16).astype(np.float32)  # the fixture stores float16 windows
    slip_f, emo_f = model.predict(vw, verbose=0)
    np.savez_compressed(
        root / "tests" / "data" / "microevent_validation.npz",
        windows=vw.astype(np.float16),
        slip=slip_f[:, 0, 0].astype(np.float32),
        emotion_logits=emo_f[:, 0, :].astype(np.float32),
        label=lab.astype(np.int64),
        active=act.astype(np.float32),
    )
    meta = {
        "name": "microevent",
        "version": 1,
        "rate_hz": MODEL_RATE,
        "window": WINDOW,
        "lookahead": LOOKAHEAD,
        "input_clip": INPUT_CLIP,
        "features": list(FRAME_NAMES),
        "emotions": list(EMOTIONS),
        "emotion_temperature": temperature,
        "seed": args.seed,
        "n_train_sequences": args.n_train,
        "imagespace": args.imagespace,
        "imagespace_copies": args.imagespace_copies,
        "neg_weight": args.neg_weight,
        "epochs": args.epochs,
        "width": args.width,
        "members": args.members,
        "final_loss": [{k: float(v[-1]) for k, v in h.items()} for h in histories],
        # pinned like the face models: the spotter refuses a model whose bytes differ
        "sha256": hashlib.sha256(blob).hexdigest(),
    }
    (root / "models" / "microevent.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.copyfile(root / "models" / "microevent.json", root / "edge" / "data" / "microevent.json")
    (root / "training" / "out" / "history.json").write_text(json.dumps(histories, indent=1))


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n-train", type=int, default=300, help="generated sequences (no pixels)")
    ap.add_argument(
        "--n-val", type=int, default=0, help="generated validation sequences (0: image-space only)"
    )
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument(
        "--members", type=int, default=6, help="models trained with seeds seed.. and averaged"
    )
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument(
        "--threads", type=int, default=1, help="training threads (the committed model: 1)"
    )
    ap.add_argument("--width", type=int, default=WIDTH, help="channels per conv layer")
    ap.add_argument(
        "--imagespace", default="auto",
        help="image-space cache dirs (comma-separated) to mix in ('auto': those `make train` "
        "renders; 'none')",
    )  # fmt: skip
    ap.add_argument("--imagespace-copies", type=int, default=10, help="jittered copies of it")
    ap.add_argument("--neg-weight", type=float, default=4.0, help="slip loss weight off-slip")
    ap.add_argument(
        "--root", default=str(ROOT), help="write outputs under this tree (default: the repo)"
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(ap.parse_args())


if __name__ == "__main__":
    main()
