"""The appearance channel on real frames: fer's classifier on aligned crops, quality verdicts,
the reduced rate, the sha256-pinned model and the baseline it gates."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.brain.appearance import (
    CUT,
    FER_LABELS,
    IMPLAUSIBLE,
    MODEL_NAME,
    OCCLUDED,
    OK,
    TOO_SMALL,
    AppearanceModel,
    AppearanceStage,
    aligned_crop,
    assess,
    template,
)
from edge.brain.features import FeatureExtractor
from edge.cli import main
from edge.errors import ModelError
from edge.face.tracker import FaceTracker
from edge.runtime import manifest
from edge.sources.video import VideoFileSource
from edge.types import Face, FaceFrame, Frame

SAD, NEUTRAL, HAPPY = (FER_LABELS.index(n) for n in ("sad", "neutral", "happy"))


@pytest.fixture(scope="module")
def model(face_models: Path) -> AppearanceModel:
    """The verified fer classifier."""
    return AppearanceModel(directory=face_models)


def _tracked(clip: Path, frames: range) -> list[tuple[Frame, FaceFrame]]:
    tracker = FaceTracker(mesh="468")
    out = []
    with VideoFileSource(clip) as src:
        for frame in src:
            if frame.index > frames.stop:
                break
            ff = tracker.process(frame)
            if frame.index in frames and ff.faces:
                out.append((frame, ff))
    return out


def _probs(model: AppearanceModel, pairs: list[tuple[Frame, FaceFrame]]) -> np.ndarray:
    rows = []
    for frame, ff in pairs:
        h, w = frame.image.shape[:2]
        quality, m = assess(ff.faces[0].landmarks, ff.faces[0].presence, w, h)
        assert quality == OK
        rows.append(model.probs(aligned_crop(frame.image, m)))
    return np.stack(rows)


def test_template_puts_the_eyes_level_and_the_mouth_below(face_models: Path) -> None:
    t = template()
    assert t[0, 0] < 32 < t[1, 0] and abs(t[0, 1] - t[1, 1]) < 0.5  # right eye left in image
    assert 40 < t[2, 1] < 56 and abs(t[2, 0] - 32) < 2


def test_neutral_frames_read_neutral_and_the_smile_happy(
    model: AppearanceModel, pyfeat_dir: Path
) -> None:
    pairs = _tracked(pyfeat_dir / "single_face.mp4", range(0, 61))
    probs = _probs(model, pairs)
    idx = np.array([f.index for f, _ in pairs])
    assert probs.shape[1] == 7 and np.allclose(probs.sum(1), 1.0, atol=1e-3)
    neutral, smile = probs[idx <= 14], probs[(idx >= 30) & (idx <= 60)]
    assert (neutral.argmax(1) == NEUTRAL).mean() >= 0.9
    assert (smile.argmax(1) == HAPPY).mean() >= 0.9


def test_crying_frames_read_sad(model: AppearanceModel, pyfeat_dir: Path) -> None:
    # WolfgangLanger 0-56: crying with the mouth visible (annotations/); a test, not tuning
    pairs = _tracked(pyfeat_dir / "WolfgangLanger_Pexels.mp4", range(0, 57, 4))
    probs = _probs(model, pairs)
    assert len(probs) >= 12
    assert (probs.argmax(1) == SAD).mean() >= 0.9


def _one_face(pyfeat_dir: Path) -> tuple[Frame, Face]:
    frame, ff = _tracked(pyfeat_dir / "single_face.mp4", range(5, 6))[0]
    return frame, ff.faces[0]


def test_bad_faces_are_skipped_with_a_reason_and_counted(
    model: AppearanceModel, pyfeat_dir: Path
) -> None:
    import cv2

    frame, face = _one_face(pyfeat_dir)
    h, w = frame.image.shape[:2]
    assert assess(face.landmarks, face.presence, w, h)[0] == OK
    # the same real face at a fifth of the size: too few pixels for a 48 px-trained model
    k = 0.2
    small = cv2.resize(frame.image, (int(w * k), int(h * k)), interpolation=cv2.INTER_AREA)
    small_face = Face(face.track_id, face.box, (face.landmarks * k).astype(np.float32), 0.99)
    # the face half outside the image (cropped at its nose)
    x0 = int(np.median(face.landmarks[:, 0]))
    cut_img = np.ascontiguousarray(frame.image[:, x0:])
    cut_lm = face.landmarks.copy()
    cut_lm[:, 0] -= x0
    squashed = face.landmarks.copy()  # eyes 4x closer than a frontal face allows
    squashed[:, 0] = squashed[:, 0].mean() + 0.25 * (squashed[:, 0] - squashed[:, 0].mean())
    cases = [
        (small, small_face, TOO_SMALL),
        (cut_img, Face(1, face.box, cut_lm, 0.99), CUT),
        (frame.image, Face(1, face.box, squashed, 0.99), IMPLAUSIBLE),
        (frame.image, Face(1, face.box, face.landmarks, 0.6), OCCLUDED),
    ]
    stage = AppearanceStage(model)
    for i, (img, f, want) in enumerate(cases):
        hh, ww = img.shape[:2]
        assert assess(f.landmarks, f.presence, ww, hh)[0] == want
        fr = Frame(i, i * 1_000_000_000, np.ascontiguousarray(img))
        (reading,) = stage.observe(fr, FaceFrame(i, fr.t_ns, (f,), ww, hh))
        assert reading.quality == want and reading.probs is None
    assert stage.counts[OK] == 0 and stage.skipped == 4
    assert all(stage.counts[q] == 1 for q in (TOO_SMALL, CUT, IMPLAUSIBLE, OCCLUDED))


def test_the_stage_reads_each_track_at_its_reduced_rate(
    model: AppearanceModel, pyfeat_dir: Path
) -> None:
    pairs = _tracked(pyfeat_dir / "single_face.mp4", range(0, 72))
    stage = AppearanceStage(model)  # 10 Hz on a 30 fps clip: every third frame
    readings = [r for fr, ff in pairs for r in stage.observe(fr, ff)]
    assert len(readings) == pytest.approx(len(pairs) / 3, abs=1)
    assert all(r.quality == OK and r.probs is not None for r in readings)
    gaps = np.diff([r.t_ns for r in readings]) / 1e6
    assert gaps.min() >= 95 and gaps.max() <= 105


def test_a_face_at_rest_is_read_at_a_quarter_of_the_rate_and_full_rate_once_it_moves(
    model: AppearanceModel, pyfeat_dir: Path
) -> None:
    pairs = _tracked(pyfeat_dir / "single_face.mp4", range(0, 72))
    stage = AppearanceStage(model)
    track = pairs[0][1].faces[0].track_id
    # at rest for the first 36 frames (1.2 s), moving for the last 36
    readings = [
        r
        for i, (fr, ff) in enumerate(pairs)
        for r in stage.observe(fr, ff, {track} if i >= 36 else set())
    ]
    rest = np.diff([r.t_ns for r in readings if r.t_ns < pairs[36][0].t_ns]) / 1e6
    busy = np.diff([r.t_ns for r in readings if r.t_ns >= pairs[36][0].t_ns]) / 1e6
    assert rest.min() >= 390 and rest.max() <= 410  # 2.5 Hz
    assert busy.min() >= 95 and busy.max() <= 105  # 10 Hz


@pytest.fixture
def model_copy(face_models: Path, tmp_path: Path) -> Path:
    """A private copy of the verified model directory, to damage."""
    for name in manifest.manifest():
        shutil.copy(face_models / f"{name}.tflite", tmp_path / f"{name}.tflite")
    return tmp_path


def test_an_altered_appearance_model_is_refused_naming_file_and_sha256(
    model_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = model_copy / f"{MODEL_NAME}.tflite"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    want = manifest.spec(MODEL_NAME).sha256
    with pytest.raises(ModelError, match=rf"{MODEL_NAME}\.tflite failed verification.*{want}"):
        AppearanceModel(directory=model_copy)
    assert main(["models", "--dir", str(model_copy), "verify", MODEL_NAME]) == 3
    out = capsys.readouterr()
    assert out.out.startswith("FAIL model") and want in out.out and str(path) in out.out
    assert out.err.count("\n") == 1 and "failed verification" in out.err


def test_a_missing_appearance_model_is_refused(model_copy: Path) -> None:
    (model_copy / f"{MODEL_NAME}.tflite").unlink()
    with pytest.raises(ModelError, match=rf"{MODEL_NAME}\.tflite is missing .*models fetch"):
        AppearanceModel(directory=model_copy)


def test_a_face_arriving_mid_expression_has_only_a_provisional_baseline(
    model: AppearanceModel, pyfeat_dir: Path
) -> None:
    # WolfgangLanger arrives crying: its reference stays provisional while fer sees no
    # neutral face; without appearance (a recording) nothing marks it
    pairs = _tracked(pyfeat_dir / "WolfgangLanger_Pexels.mp4", range(0, 60))
    stage, gated, plain = AppearanceStage(model), FeatureExtractor(), FeatureExtractor()
    for frame, ff in pairs:
        gated.update(ff, stage.observe(frame, ff))
        plain.update(ff)
        tid = ff.faces[0].track_id
        assert gated._tracks[tid].provisional and not plain._tracks[tid].provisional


def test_the_first_neutral_looking_frame_replaces_a_provisional_reference() -> None:
    from edge.brain.features import NeutralBaseline

    crying = np.zeros(40, np.float32)
    crying[:4] = 0.8
    base = NeutralBaseline()
    for i in range(60):  # 2 s of a crying face that fer calls sad
        rel = base.update(int(i * 1e9 / 30), crying, False)
    assert base.provisional and abs(rel[0]) < 0.1  # relative to itself: no expression seen
    neutral = np.zeros(40, np.float32)
    rel = base.update(int(60 * 1e9 / 30), neutral, True)
    assert not base.provisional and np.allclose(rel, 0.0)
    rel = base.update(int(61 * 1e9 / 30), crying, False)  # crying again: now it shows
    assert rel[0] == pytest.approx(0.8)


def test_a_long_non_neutral_stretch_is_not_absorbed_but_a_still_face_still_drifts() -> None:
    from edge.brain.features import NeutralBaseline

    k = 40
    moved = np.zeros(k, np.float32)
    moved[0] = 1.0  # a strong AU held for 10 s
    gated, plain = NeutralBaseline(), NeutralBaseline()
    for base in (gated, plain):
        base.update(0, np.zeros(k, np.float32), True)
    for i in range(1, 301):  # 10 s at 30 fps
        t = int(i * 1e9 / 30)
        rel_g = gated.update(t, moved, False)  # fer: not neutral
        rel_p = plain.update(t, moved, True)  # fer: neutral: after 6 s it is the new neutral
    assert rel_g[0] == pytest.approx(1.0) and rel_p[0] < 0.5
    # a still face that never looks neutral follows slow drift (posture, lighting)
    drift = NeutralBaseline()
    drift.update(0, np.zeros(k, np.float32), False)
    tiny = np.full(k, 0.05, np.float32)  # below every channel's moving level
    for i in range(1, 301):
        rel = drift.update(int(i * 1e9 / 30), tiny, False)
    assert 0.0 <= rel[1] < 0.02 and drift.provisional


def test_clip_frames_carry_readings_and_a_recording_falls_back_to_geometry(
    pyfeat_dir: Path, face_models: Path, tmp_path: Path
) -> None:
    from edge.events import SlipEvent
    from edge.pipeline import Pipeline, PipelineResult
    from edge.replay import replay
    from edge.sources.recording import LandmarkFileSource, RecordingWriter

    results: list[PipelineResult] = []
    pipe = Pipeline(device_id="t")
    with VideoFileSource(pyfeat_dir / "single_face.mp4") as src:
        replay(src, pipe, on_result=results.append)
    au = [a for r in results for a in r.au_frames]
    with_app = [a for a in au if a.appearance is not None]
    # 10 Hz while the face moves (most of this clip smiles), 2.5 Hz while it rests
    assert len(au) == 72 and 6 <= len(with_app) <= 25
    assert pipe.appearance_counts["ok"] == len(with_app)
    assert all("appearance" in r.stage_times for r in results)
    writer = RecordingWriter(tmp_path / "rec.npz", fps=30.0, width=640, height=360)
    for r in results:
        writer.add(r.face_frame)
    events: list[SlipEvent] = []
    rec_results: list[PipelineResult] = []
    with LandmarkFileSource(writer.close()) as rec:
        replay(rec, Pipeline(device_id="t"), on_result=rec_results.append, on_events=events.extend)
    assert all(a.appearance is None for r in rec_results for a in r.au_frames)
    assert events and all(
        e.evidence is not None
        and e.evidence.fallback == "no_pixels"
        and "appearance" not in e.evidence.channels
        and [m.name for m in e.models] == ["microevent"]
        for e in events
    )


def test_the_reading_schedule_keeps_each_track_on_its_own_rate() -> None:
    from edge.brain.appearance import ReadingSchedule

    sched = ReadingSchedule()  # 10 Hz slots, every 4th at rest
    period = 1_000_000_000 // 30
    read: dict[int, list[int]] = {1: [], 2: []}
    for i in range(90):  # 3 s at 30 fps; track 1 moves throughout, track 2 rests
        t = i * period
        for track, moving in ((1, True), (2, False)):
            if sched.due(track, t, moving):
                read[track].append(t)
    gaps_1 = np.diff(read[1]) / 1e6
    gaps_2 = np.diff(read[2]) / 1e6
    assert len(read[1]) == 30 and gaps_1.max() <= 101  # 10 Hz
    assert len(read[2]) == 8 and gaps_2.min() >= 399  # 2.5 Hz
    sched.forget(2)
    assert sched.due(2, 90 * period, False)  # a new track is read at once
