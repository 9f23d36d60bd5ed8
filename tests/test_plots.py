"""Timeline plots: a real clip through the real pipeline renders a valid, non-trivial PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from edge.errors import InputError
from edge.types import AUFrame
from edge.viz.plots import (
    EMOTION_COLOURS,
    ReplayVisuals,
    TimelineData,
    curves_that_matter,
    dropped_gaps,
    timeline,
)
from tests.web_support import make_slip


def _decode(path: Path) -> npt.NDArray[np.float32]:
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def _has_colour(px: npt.NDArray[np.float32], hex_colour: str, tol: float = 40.0) -> int:
    """Pixels near a colour blended at any alpha over white (span shading is translucent)."""
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)
    white = np.full(3, 255.0, dtype=np.float32)
    hits = 0
    for a in (0.18, 0.3, 0.45):
        hits += int((np.abs(px - (a * rgb + (1 - a) * white)).max(axis=2) < tol / 4).sum())
    return hits


@pytest.mark.slow
def test_replay_plot_and_motion_out_on_a_real_clip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.cli import main
    from edge.runtime.downloads import pyfeat_data_dir

    png, anim = tmp_path / "timeline.png", tmp_path / "slips"
    clip = pyfeat_data_dir() / "single_face.mp4"
    args = ["replay", str(clip), "--plot", str(png), "--motion-out", str(anim)]
    assert main([*args, "--events-out", str(tmp_path / "ev.jsonl")]) == 0
    assert f"timeline written to {png}" in capsys.readouterr().out
    px = _decode(png)
    assert px.shape[1] == 1200 and px.shape[0] >= 300
    assert px.std() > 20.0  # curves, text and shading, not a blank canvas
    # The clip smiles: the spotter finds happiness and the plot shades it in its colour.
    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert any(ev["emotion"] == "happiness" for ev in events)
    assert _has_colour(px, EMOTION_COLOURS["happiness"]) > 1000
    # Every slip with motion got its slow-motion GIF, named by event id.
    with_motion = {ev["id"] for ev in events if "motion" in ev}
    assert with_motion and {p.stem for p in anim.glob("*.gif")} == with_motion


def _synthetic(blink: bool = True) -> TimelineData:
    """Two tracks at 30 fps with a blink on track 1 and a 5-frame drop at 1 s."""
    names = ("AU12_L", "AU12_R", "AU45_L", "AU45_R", "AU4_L", "yaw")
    data = TimelineData()
    period = 33_333_333
    for k in [k for k in range(90) if not 30 <= k < 35]:
        t = k * period
        vals = np.zeros(len(names), np.float32)
        vals[0:2] = 0.8 if 50 <= k < 60 else 0.02 * np.sin(k)
        vals[2:4] = 1.0 if blink and 70 <= k < 75 else 0.0
        vals[4] = 0.1 * np.cos(k / 5)
        data.add(t, [AUFrame(t, 1, vals, names), AUFrame(t, 2, vals * 0.5, names)])
    data.add_events([make_slip(0, "happiness")])
    return data


class _Truth:
    def __init__(self, onset_ns: int, offset_ns: int, emotion: str | None) -> None:
        self.onset_ns, self.offset_ns, self.emotion, self.kind = onset_ns, offset_ns, emotion, "me"


def test_dropped_frames_blinks_and_truth_are_drawn(tmp_path: Path) -> None:
    data = _synthetic()
    assert dropped_gaps(data.frame_times_ns, fps=30.0) == [(29 * 33_333_333, 35 * 33_333_333)]
    plain = _decode(timeline(data, tmp_path / "plain.png", fps=30.0))
    truth = [_Truth(1_600_000_000, 2_000_000_000, "happiness")]
    with_truth = _decode(timeline(data, tmp_path / "truth.png", fps=30.0, truth=truth))
    assert with_truth.shape[0] > plain.shape[0]  # the truth strip sits beside (below) the tracks
    red = (plain[..., 0] > 240) & (plain[..., 1] < 225) & (plain[..., 1] > 180)
    assert red.sum() > 200  # dropped-frame gap shading on both tracks

    def grey(px: npt.NDArray[np.float32]) -> int:
        return int(((np.abs(px - 200).max(axis=2) < 30) & (px.std(axis=2) < 3)).sum())

    no_blink = _decode(timeline(_synthetic(blink=False), tmp_path / "nb.png", fps=30.0))
    assert grey(plain) > grey(no_blink) + 500  # the blink span is shaded grey


def test_curves_that_matter_prefers_event_aus() -> None:
    names = ("AU1_L", "AU12_L", "AU25", "AU45_L", "yaw")
    vals = np.array([[5.0, 0.1, 2.0, 9.0, 9.0]] * 3, np.float32)
    ev = make_slip(0)  # names AU6 and AU12_L
    assert curves_that_matter(names, vals, [ev], 2) == [1, 0]
    assert 3 not in curves_that_matter(names, vals, [], 5)  # blink channel is shaded instead
    assert 4 not in curves_that_matter(names, vals, [], 5)  # pose is not an AU


def test_unwritable_output_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        timeline(_synthetic(), tmp_path / "missing-dir" / "t.png")


def test_unwritable_plot_path_fails_before_the_replay(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot write .*t.png"):
        ReplayVisuals(tmp_path / "missing-dir" / "t.png", None)
    ReplayVisuals(tmp_path / "ok.png", None)
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


def test_empty_replay_still_plots(tmp_path: Path) -> None:
    px = _decode(timeline(TimelineData(), tmp_path / "empty.png"))
    assert px.shape[0] > 100
