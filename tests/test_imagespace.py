"""Image-space data engine: the warp moves points as asked, rendering is seeded, truth is valid."""

from __future__ import annotations

import numpy as np
import pytest

from edge.brain.au_geometry import canonical_face
from edge.evaluation.annotations import annotation_from_dict
from training.generator import GenConfig
from training.heldout import HELDOUT, annotation
from training.imagespace.displacements import CHIN, FACE_OVAL, basis, template_basis
from training.imagespace.faces import WORK_IOD, WORK_SIZE, SourceFace
from training.imagespace.render import Rig, render
from training.imagespace.script import RenderConfig, make_script
from training.imagespace.warp import WarpGrid, apply_field


def _mesh_px() -> np.ndarray:
    """The canonical face placed in a working image (pixels, 468 x 3)."""
    c = canonical_face()
    return np.concatenate(
        [c[:, :2] * WORK_IOD + WORK_SIZE / 2 - np.array([0, 0.35 * WORK_IOD]), c[:, 2:] * WORK_IOD],
        axis=1,
    )


def test_warp_moves_mesh_points_by_the_asked_displacement() -> None:
    mesh = _mesh_px()
    # an image whose pixels hold their own coordinates: the warped image then says, at every
    # output pixel, where in the source it came from
    yy, xx = np.mgrid[0:WORK_SIZE, 0:WORK_SIZE].astype(np.float32)
    coords = np.stack([xx, yy, np.zeros_like(xx)], -1)
    grid = WarpGrid.build(mesh[:, :2], coords.shape)
    disp = np.zeros((468, 2), np.float32)
    lower = mesh[:, 1] > mesh[1, 1]  # points below the nose tip move down-right
    disp[lower] = (2.5, 4.0)
    out = apply_field(coords, grid, grid.field(disp))
    moved = np.flatnonzero(lower)
    for i in moved[::10]:
        q = np.round(mesh[i, :2] + disp[i]).astype(int)
        src = out[q[1], q[0], :2]
        # pixel q came from q - d (the rounding of q is the only slack)
        np.testing.assert_allclose(src, q - disp[i], atol=0.6)
    # far outside the face nothing moves
    np.testing.assert_array_equal(out[5, 5], coords[5, 5])


def test_pls_basis_keeps_the_contour_still() -> None:
    pls = basis("pls")
    still = [i for i in FACE_OVAL if i not in CHIN]
    for key in ("AU1_L", "AU12_L", "AU26"):
        assert np.abs(pls[key][still]).max() < 1e-9, key
        assert np.abs(pls[key]).max() > 0.02, key
    # one-sided keys move one half of the face
    c = canonical_face()
    left = pls["AU12_L"][c[:, 0] < -0.2]
    assert np.abs(left).max() < 1e-9


def _synthetic_face() -> SourceFace:
    rng = np.random.default_rng(0)
    img = (rng.random((WORK_SIZE, WORK_SIZE, 3)) * 255).astype(np.uint8)
    return SourceFace("synthetic", "test", (img,), _mesh_px())


def test_rendering_is_seeded() -> None:
    face = _synthetic_face()
    rig = Rig.build(face)
    cfg = RenderConfig(
        duration_s=(0.4, 0.5), sources=("template",), gen=GenConfig(n_events=(0, 0)),
        n_nuisance=(0, 0),
    )  # fmt: skip

    def frames(seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        script = make_script(rng, cfg, face.name)
        script.curves["AU12_L"] = np.linspace(0, 1, script.n)
        return list(render(script, rig, rng))

    a, b, c = frames(1), frames(1), frames(2)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_template_is_spread_but_keeps_its_named_points() -> None:
    t = template_basis()["AU12_L"]
    assert t[291, 1] == pytest.approx(-0.085, abs=0.02)  # the corner keeps its lift
    assert np.abs(t[61]).max() < 1e-3  # the other corner does not move


def test_heldout_annotation_is_valid() -> None:
    for seed in range(5):
        rng = np.random.default_rng(seed)
        script = make_script(rng, HELDOUT, "astronaut")
        ann = annotation_from_dict(annotation("x.mp4", script, ""), "x")
        expr = [s for s in ann.segments if s.is_expression]
        assert len(expr) == len(script.events)
        assert all(s.emotion is not None for s in expr)


@pytest.mark.parametrize("axis", ["yaw", "pitch"])
def test_a_rendered_head_turn_is_a_true_rotation_of_its_size(axis: str) -> None:
    from edge.brain.au_geometry import normalise
    from training.imagespace.render import _rotation, pose_per_degree

    c = canonical_face()
    d = pose_per_degree()[axis]
    # a real 1 degree turn moves no point by more than ~0.013 IOD (nose tip depth ~0.7 IOD)
    assert 0.005 < np.abs(d).max() < 0.015
    # 10 "degrees" of the warp, given the depth that real 10 degree turn would have, read back
    # as 10 degrees by the pose measure
    sign = 1.0 if np.allclose(d[:, :2], (c @ _rotation(axis, 1.0).T - c)[:, :2]) else -1.0
    moved = c + 10.0 * d
    moved[:, 2] = (c @ _rotation(axis, 10.0 * sign).T)[:, 2]
    assert normalise(moved)[1][("yaw", "pitch").index(axis)] == pytest.approx(10.0, abs=0.5)


def test_a_face_can_arrive_mid_expression() -> None:
    from training.heldout import clip_script

    for i in range(3):
        script, _ = clip_script(i, 99, HELDOUT, "dev", arrive=True)
        on, apex, off, _, kind = script.events[0]
        assert (on, apex, kind) == (0.0, 0.0, "macro") and 1.8 <= off <= 5.0
        # at its apex on the first frame, gone just after its offset
        assert max(float(c[0]) for c in script.curves.values()) > 0.1
        after = int(off * script.fps) + 1
        assert max(abs(float(c[after])) for c in script.curves.values()) < 1e-6
        # nothing else starts until it has ended
        assert all(e[0] >= off + 0.3 for e in script.events[1:])
        assert all(n[0] >= off + 0.3 for n in script.nuisances)
        ann = annotation("x.mp4", script, "0" * 64)
        assert (ann["segments"][0]["onset_frame"], ann["segments"][0]["apex_frame"]) == (0, 0)
        assert annotation_from_dict(ann, "x").segments[0].kind == "macro"
    # without the option a clip's script is the plain seeded one, as every set rendered before
    plain, _ = clip_script(1, 99, HELDOUT, "dev")
    rng = np.random.default_rng(np.random.SeedSequence([99, 1]))
    assert plain.events == make_script(rng, HELDOUT, plain.face).events
