"""Spotting and recognition metrics: MEGC-style interval matching, UF1/UAR, false slips/min.

A predicted interval hits a true one when their IoU is at least 0.5 (MEGC spotting); matching
is one-to-one, greedy by IoU. Micro and macro are scored separately (a predicted micro can only
hit a true micro) and together ("all", type ignored). Emotion is scored on the type-agnostic
hits whose truth has one of the seven emotions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from edge.evaluation.annotations import EXPRESSION_KINDS, NUISANCE_KINDS, Segment
from edge.events import EMOTIONS, SlipEvent

IOU_HIT = 0.5
NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True, slots=True)
class Stream:
    """One evaluated clip/recording/generated sequence: its truth and the detector's events."""

    name: str
    fps: float
    duration_ns: int
    truths: tuple[Segment, ...]
    preds: tuple[SlipEvent, ...]


def interval_iou(a: tuple[int, int], b: tuple[int, int], frame_ns: int = 0) -> float:
    """IoU of two [onset, offset] intervals; ``frame_ns`` makes them frame-inclusive (MEGC)."""
    a0, a1 = a[0], a[1] + frame_ns
    b0, b1 = b[0], b[1] + frame_ns
    inter = min(a1, b1) - max(a0, b0)
    if inter <= 0:
        return 0.0
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 else 0.0


def match_intervals(
    preds: Sequence[tuple[int, int]],
    truths: Sequence[tuple[int, int]],
    iou_min: float = IOU_HIT,
    frame_ns: int = 0,
) -> list[tuple[int, int, float]]:
    """One-to-one (pred index, true index, IoU) pairs with IoU >= iou_min, best first."""
    cands = [
        (iou, i, j)
        for i, p in enumerate(preds)
        for j, t in enumerate(truths)
        if (iou := interval_iou(p, t, frame_ns)) >= iou_min
    ]
    cands.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_p: set[int] = set()
    used_t: set[int] = set()
    out: list[tuple[int, int, float]] = []
    for iou, i, j in cands:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            out.append((i, j, iou))
    return out


@dataclass(slots=True)
class SpotCounts:
    """Hits, predictions and truths of one class; ``tp_emotion`` also got the emotion right."""

    tp: int = 0
    n_pred: int = 0
    n_true: int = 0
    tp_emotion: int = 0

    @property
    def precision(self) -> float:
        """TP / predictions (0 when nothing was predicted)."""
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        """TP / truths (0 when there is no truth)."""
        return self.tp / self.n_true if self.n_true else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (MEGC: 2TP / (preds + truths))."""
        total = self.n_pred + self.n_true
        return 2 * self.tp / total if total else 0.0

    def add(self, other: SpotCounts) -> None:
        """Accumulate another stream's counts."""
        self.tp += other.tp
        self.n_pred += other.n_pred
        self.n_true += other.n_true
        self.tp_emotion += other.tp_emotion


@dataclass(slots=True)
class EmotionCounts:
    """Spotting of one emotion: recall over its true expressions, precision over its predictions."""

    n_true: int = 0
    spotted: int = 0  # true expressions hit at IoU (whatever emotion was named)
    spotted_right: int = 0  # ... and named this emotion
    n_pred: int = 0  # predictions naming this emotion
    pred_right: int = 0  # ... that hit a true expression of this emotion

    @property
    def spot_recall(self) -> float:
        """Share of this emotion's expressions found (emotion ignored)."""
        return self.spotted / self.n_true if self.n_true else 0.0

    @property
    def recall(self) -> float:
        """Share of this emotion's expressions found and named right (end to end)."""
        return self.spotted_right / self.n_true if self.n_true else 0.0

    @property
    def precision(self) -> float:
        """Share of predictions naming this emotion that hit an expression of it."""
        return self.pred_right / self.n_pred if self.n_pred else 0.0


def calibration_error(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> float:
    """Expected calibration error: |accuracy - mean confidence| per bin, weighted by size."""
    if not pairs:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = [(c, ok) for c, ok in pairs if lo <= c < hi or (b == bins - 1 and c >= 1.0)]
        if sel:
            acc = sum(ok for _, ok in sel) / len(sel)
            conf = sum(c for c, _ in sel) / len(sel)
            total += len(sel) * abs(acc - conf)
    return total / len(pairs)


@dataclass(slots=True)
class EvalReport:
    """Everything `microslip eval` prints, for one set of streams."""

    streams: int = 0
    duration_ns: int = 0
    spotting: dict[str, SpotCounts] = field(
        default_factory=lambda: {k: SpotCounts() for k in (*EXPRESSION_KINDS, "all")}
    )
    # true type -> predicted type -> count, over type-agnostic hits
    type_confusion: dict[str, dict[str, int]] = field(
        default_factory=lambda: {t: dict.fromkeys(EXPRESSION_KINDS, 0) for t in EXPRESSION_KINDS}
    )
    # rows: true emotion, columns: predicted emotion, both in EMOTIONS order
    confusion: list[list[int]] = field(
        default_factory=lambda: [[0] * len(EMOTIONS) for _ in EMOTIONS]
    )
    neutral_ns: int = 0  # time with a face but no true expression: neutral and nuisances
    false_slips: int = 0  # predictions that overlap no true expression at all
    false_micro_slips: int = 0
    nuisances: dict[str, list[int]] = field(default_factory=dict)  # kind -> [total, slipped]
    per_fps: dict[str, EvalReport] = field(default_factory=dict)
    # per emotion: true expressions, spotted (IoU hit, any emotion), spotted with that emotion,
    # predictions naming it, and those that hit a true expression of it
    by_emotion: dict[str, EmotionCounts] = field(
        default_factory=lambda: {e: EmotionCounts() for e in EMOTIONS}
    )
    # (confidence, emotion right) of every hit / (confidence, hit with the right emotion) of
    # every prediction: what `confidence` claims against what happened
    conf_hits: list[tuple[float, bool]] = field(default_factory=list)
    conf_all: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def false_slips_per_min(self) -> float:
        """False slips per minute of neutral and nuisance footage."""
        return self.false_slips * NS_PER_MIN / self.neutral_ns if self.neutral_ns else 0.0

    @property
    def false_micro_slips_per_min(self) -> float:
        """False micro-slips per minute of neutral and nuisance footage."""
        return self.false_micro_slips * NS_PER_MIN / self.neutral_ns if self.neutral_ns else 0.0

    def emotion_per_class(self) -> dict[str, dict[str, float]]:
        """Per emotion: support, precision, recall, F1 from the confusion matrix."""
        out: dict[str, dict[str, float]] = {}
        for k, name in enumerate(EMOTIONS):
            tp = self.confusion[k][k]
            support = sum(self.confusion[k])
            predicted = sum(row[k] for row in self.confusion)
            p = tp / predicted if predicted else 0.0
            r = tp / support if support else 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            out[name] = {"support": support, "precision": p, "recall": r, "f1": f1}
        return out

    @property
    def uf1(self) -> float:
        """Unweighted F1: mean per-class F1 over the emotions present in the truth."""
        per = [c for c in self.emotion_per_class().values() if c["support"]]
        return sum(c["f1"] for c in per) / len(per) if per else 0.0

    @property
    def confidence_ece(self) -> float:
        """Calibration error of `confidence` as the probability that a hit's emotion is right."""
        return calibration_error(self.conf_hits)

    @property
    def confidence_ece_all(self) -> float:
        """Calibration error of `confidence` over all predictions (right = hit, right emotion)."""
        return calibration_error(self.conf_all)

    @property
    def uar(self) -> float:
        """Unweighted average recall over the emotions present in the truth."""
        per = [c for c in self.emotion_per_class().values() if c["support"]]
        return sum(c["recall"] for c in per) / len(per) if per else 0.0


def _union_ns(intervals: Iterable[tuple[int, int]], lo: int, hi: int) -> int:
    """Total length of the union of intervals, clipped to [lo, hi]."""
    total, end = 0, lo
    for a, b in sorted(intervals):
        a, b = max(a, end, lo), min(b, hi)
        if b > a:
            total += b - a
            end = b
    return total


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    # Inclusive, so that a zero-length prediction inside an expression still overlaps it.
    return min(a[1], b[1]) >= max(a[0], b[0])


def score_stream(s: Stream, rep: EvalReport, iou_min: float = IOU_HIT) -> None:
    """Add one stream's counts to ``rep``."""
    frame_ns = round(1e9 / s.fps) if s.fps > 0 else 0
    exprs = [t for t in s.truths if t.is_expression]
    t_iv = [(t.onset_ns, t.offset_ns) for t in exprs]
    p_iv = [(p.onset_ns, p.offset_ns) for p in s.preds]
    rep.streams += 1
    rep.duration_ns += s.duration_ns
    for kind in EXPRESSION_KINDS:
        pi = [i for i, p in enumerate(s.preds) if p.type == kind]
        ti = [j for j, t in enumerate(exprs) if t.kind == kind]
        pairs = match_intervals([p_iv[i] for i in pi], [t_iv[j] for j in ti], iou_min, frame_ns)
        c = SpotCounts(tp=len(pairs), n_pred=len(pi), n_true=len(ti))
        c.tp_emotion = sum(1 for a, b, _ in pairs if s.preds[pi[a]].emotion == exprs[ti[b]].emotion)
        rep.spotting[kind].add(c)
    pairs = match_intervals(p_iv, t_iv, iou_min, frame_ns)
    c = SpotCounts(tp=len(pairs), n_pred=len(p_iv), n_true=len(t_iv))
    c.tp_emotion = sum(1 for a, b, _ in pairs if s.preds[a].emotion == exprs[b].emotion)
    rep.spotting["all"].add(c)
    for a, b, _ in pairs:
        pred, true = s.preds[a], exprs[b]
        if pred.type in EXPRESSION_KINDS:
            rep.type_confusion[true.kind][pred.type] += 1
        if true.emotion in EMOTIONS and pred.emotion in EMOTIONS:
            rep.confusion[EMOTIONS.index(true.emotion)][EMOTIONS.index(pred.emotion)] += 1
        if true.emotion in EMOTIONS:
            rep.conf_hits.append((float(pred.confidence), pred.emotion == true.emotion))
    _score_emotions(s, exprs, pairs, rep)
    # False slips: predictions that touch no true expression (matched or not).
    false = [i for i, p in enumerate(p_iv) if not any(_overlaps(p, t) for t in t_iv)]
    rep.false_slips += len(false)
    rep.false_micro_slips += sum(1 for i in false if s.preds[i].type == "micro")
    no_face = [(t.onset_ns, t.offset_ns) for t in s.truths if t.kind == "no_face"]
    busy = _union_ns(t_iv + no_face, 0, s.duration_ns)
    rep.neutral_ns += max(0, s.duration_ns - busy)
    for t in s.truths:
        if t.kind in NUISANCE_KINDS:
            counts = rep.nuisances.setdefault(t.kind, [0, 0])
            counts[0] += 1
            counts[1] += any(_overlaps(p_iv[i], (t.onset_ns, t.offset_ns)) for i in false)


def _score_emotions(
    s: Stream, exprs: list[Segment], pairs: list[tuple[int, int, float]], rep: EvalReport
) -> None:
    """Per-emotion spotting counts and the confidence of every prediction."""
    hit_of_pred = {a: b for a, b, _ in pairs}
    hit_true = {b: a for a, b, _ in pairs}
    for j, t in enumerate(exprs):
        if t.emotion in rep.by_emotion:
            c = rep.by_emotion[t.emotion]
            c.n_true += 1
            if j in hit_true:
                c.spotted += 1
                c.spotted_right += s.preds[hit_true[j]].emotion == t.emotion
    for i, p in enumerate(s.preds):
        right = i in hit_of_pred and exprs[hit_of_pred[i]].emotion == p.emotion
        if p.emotion in rep.by_emotion:
            rep.by_emotion[p.emotion].n_pred += 1
            rep.by_emotion[p.emotion].pred_right += right
        rep.conf_all.append((float(p.confidence), right))


def fps_key(fps: float) -> str:
    """Group label of a frame rate (rounded: 29.97 and 30 are the same group)."""
    return f"{round(fps):d}"


def evaluate(streams: Iterable[Stream], iou_min: float = IOU_HIT) -> EvalReport:
    """Score all streams together and per frame rate."""
    rep = EvalReport()
    for s in streams:
        score_stream(s, rep, iou_min)
        score_stream(s, rep.per_fps.setdefault(fps_key(s.fps), EvalReport()), iou_min)
    return rep
