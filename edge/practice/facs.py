"""FACS names, the EMFACS prototypes the built-in deck shows, and the feedback text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

FACS_NAMES: Mapping[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
    6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser",
    12: "lip corner puller", 14: "dimpler", 15: "lip corner depressor",
    16: "lower lip depressor", 17: "chin raiser", 20: "lip stretcher", 23: "lip tightener",
    24: "lip pressor", 25: "lips part", 26: "jaw drop", 27: "mouth stretch", 43: "eyes closed",
    45: "blink",
}  # fmt: skip

# EMFACS prototypes (Friesen & Ekman 1983): what the built-in deck shows and names.
PROTOTYPES: Mapping[str, tuple[str, ...]] = {
    "happiness": ("AU6", "AU12"),
    "sadness": ("AU1", "AU4", "AU15"),
    "surprise": ("AU1", "AU2", "AU5", "AU26"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU7", "AU20", "AU26"),
    "anger": ("AU4", "AU5", "AU7", "AU23"),
    "disgust": ("AU9", "AU15", "AU16"),
    "contempt": ("AU12", "AU14"),  # on one side only
}
# The AUs a partial slip keeps so that it still says its emotion.
KEY_AUS: Mapping[str, tuple[str, ...]] = {
    "happiness": ("AU12",), "sadness": ("AU1", "AU15"), "surprise": ("AU2", "AU26"),
    "fear": ("AU4", "AU20"), "anger": ("AU4", "AU23"), "disgust": ("AU9",),
    "contempt": ("AU12", "AU14"),
}  # fmt: skip

LOOK_AT: Mapping[str, str] = {
    "happiness": "the lip corners pulled up and out, with the cheeks lifting under the eyes",
    "sadness": "the inner ends of the brows rising and drawing together while the lip "
    "corners turn down",
    "surprise": "the whole brow lifting, the eyes widening and the jaw dropping, all "
    "without a frown",
    "fear": "brows that rise and pull together at once, wide upper lids and lips "
    "stretched sideways",
    "anger": "brows pulled down and together, a hard stare (raised upper lids, tight lower "
    "lids) and thin, pressed lips",
    "disgust": "the nose wrinkling and the upper lip rising, with the lower lip pushed down",
    "contempt": "one lip corner only, tightened and pulled in (a one-sided dimple)",
    "none": "brief motion that carries no emotion: a blink closes both lids and reopens "
    "them, a twitch is one muscle on one side",
}
# The classic confusions (Ekman and Friesen; the METT's pairs) and what tells them apart.
CONTRAST: Mapping[frozenset[str], str] = {
    frozenset(("fear", "surprise")): "Fear and surprise both raise the brows and widen the "
    "eyes; fear also pulls the brows together (AU4) and stretches the lips sideways (AU20).",
    frozenset(("anger", "disgust")): "Anger and disgust both lower the brows; disgust "
    "wrinkles the nose (AU9) and lifts the upper lip, anger stares and presses the lips.",
    frozenset(("contempt", "happiness")): "Contempt is a one-sided lip corner (AU12+AU14 on "
    "one side); a smile pulls both corners up and lifts the cheeks (AU6).",
    frozenset(("sadness", "fear")): "Sadness raises only the inner brows and turns the lip "
    "corners down; fear raises the whole brow and opens the eyes wide.",
}
CONFUSED_PAIRS: tuple[tuple[str, str], ...] = (
    ("fear", "surprise"),
    ("anger", "disgust"),
    ("contempt", "happiness"),
)
_AU_RE = re.compile(r"^AU(\d+)(?:_([LR]))?$")


def au_number(name: str) -> int | None:
    """42 for "AU42" or "AU42_L"; None for a name that is not an action unit."""
    m = _AU_RE.match(name)
    return int(m.group(1)) if m else None


def describe_aus(aus: Sequence[tuple[str, float]]) -> list[dict[str, object]]:
    """JSON list of AUs, strongest first, sides merged: {au, name, side, intensity}."""
    merged: dict[str, dict[str, object]] = {}
    for name, value in aus:
        m = _AU_RE.match(name)
        if m is None:
            continue
        au = f"AU{m.group(1)}"
        side = {"L": "left", "R": "right"}.get(m.group(2) or "", "both")
        cur = merged.get(au)
        if cur is None:
            merged[au] = {"au": au, "name": FACS_NAMES.get(int(m.group(1)), au),
                          "side": side, "intensity": round(float(value), 2)}  # fmt: skip
        else:
            if cur["side"] != side:
                cur["side"] = "both"
            cur["intensity"] = max(float(str(cur["intensity"])), round(float(value), 2))
    return sorted(merged.values(), key=lambda d: -float(str(d["intensity"])))


def au_phrase(aus: Sequence[Mapping[str, object]]) -> str:
    """ "AU12 lip corner puller (left), AU6 cheek raiser" for the strongest few."""
    parts = []
    for a in aus[:6]:
        side = f" ({a['side']})" if a["side"] != "both" else ""
        parts.append(f"{a['au']} {a['name']}{side}")
    return ", ".join(parts)


def explain(
    truth: str, answer: str, aus: Sequence[Mapping[str, object]], regions: Sequence[str], what: str
) -> str:
    """Feedback: what it was, which actions showed it, where to look, the pair's contrast."""
    it = "No slip" if truth == "none" else truth.capitalize()
    text = f"{it} ({what}): {au_phrase(aus) or 'little movement'}."
    if regions:
        text += f" It moved the {', '.join(regions)}."
    text += f" Next time look for {LOOK_AT[truth]}."
    if answer != truth:
        pair = CONTRAST.get(frozenset((truth, answer)))
        if pair:
            text += f" {pair}"
        elif answer == "none":
            text += " There was a slip, only brief: watch the whole face, not one feature."
    return text
