"""Dense image warps from sparse mesh displacements: piecewise-affine over a triangulation.

A face's neutral mesh (image pixels) is triangulated together with a ring of fixed anchor
points around it, and every pixel of the face's region gets its triangle's barycentric
weights once (``WarpGrid``). A sparse displacement of the mesh points then becomes a dense
forward field by one gather; the backward map that ``cv2.remap`` needs is the field's
inverse, found by fixed-point iteration (``x = p - F(x)``), so a mesh point lands where it
was asked to within a fraction of a pixel even where the field is steep (eyelids).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def _anchors(points: np.ndarray, grow: float, n: int = 24) -> np.ndarray:
    """A ring of ``n`` points around ``points`` (ellipse ``grow`` times their spread)."""
    c = points.mean(0)
    r = np.abs(points - c).max(0) * grow
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([c[0] + r[0] * np.cos(a), c[1] + r[1] * np.sin(a)], 1)


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles (M x 3 indices into ``points``) of a 2-D point set."""
    lo, hi = points.min(0) - 10, points.max(0) + 10
    sub = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1))
    index = {}
    points = points.astype(np.float32)  # Subdiv2D works (and answers) in float32
    for i, p in enumerate(points):
        key = (float(p[0]), float(p[1]))
        if key in index:
            continue
        index[key] = i
        sub.insert(key)
    tris = []
    for t in sub.getTriangleList():
        ids = [index.get((float(t[2 * k]), float(t[2 * k + 1]))) for k in range(3)]
        if all(i is not None for i in ids):
            tris.append(ids)
    return np.asarray(tris, np.intp)


@dataclass(frozen=True)
class WarpGrid:
    """Barycentric weights of every pixel of a region over a triangulated point set."""

    x0: int
    y0: int
    w: int
    h: int
    n_points: int  # mesh points (anchors after them have zero displacement)
    vid: np.ndarray  # h*w x 3 vertex indices (into mesh + anchors), -1 outside
    bary: np.ndarray  # h*w x 3 weights

    @classmethod
    def build(
        cls, mesh_xy: np.ndarray, image_shape: tuple[int, ...], grow: float = 1.6
    ) -> WarpGrid:
        """Grid over the face region of ``mesh_xy`` (N x 2 pixels) with an anchor ring."""
        anchors = np.concatenate([_anchors(mesh_xy, grow), _anchors(mesh_xy, grow * 1.25)])
        pts = np.concatenate([mesh_xy, anchors]).astype(np.float64)
        hgt, wid = image_shape[:2]
        lo = np.maximum(np.floor(pts.min(0)).astype(int), 0)
        hi = np.minimum(np.ceil(pts.max(0)).astype(int) + 1, (wid, hgt))
        w, h = int(hi[0] - lo[0]), int(hi[1] - lo[1])
        tris = triangulate(pts)
        # every pixel gets the triangle that contains it and its barycentric weights there
        local = pts - lo
        vid = np.full((h * w, 3), -1, np.intp)
        bary = np.zeros((h * w, 3), np.float32)
        for tri in tris:
            a, b, c = local[tri]
            x0, y0 = np.floor(np.minimum(np.minimum(a, b), c)).astype(int)
            x1, y1 = np.ceil(np.maximum(np.maximum(a, b), c)).astype(int)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
            if x1 < x0 or y1 < y0:
                continue
            yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
            px, py = xx.ravel() - a[0], yy.ravel() - a[1]
            v0, v1 = b - a, c - a
            den = v0[0] * v1[1] - v1[0] * v0[1]
            if abs(den) < 1e-9:
                continue
            l1 = (px * v1[1] - v1[0] * py) / den
            l2 = (v0[0] * py - px * v0[1]) / den
            l0 = 1.0 - l1 - l2
            ok = (l0 >= -1e-6) & (l1 >= -1e-6) & (l2 >= -1e-6)
            flat = (yy.ravel() * w + xx.ravel())[ok]
            vid[flat] = tri
            bary[flat] = np.stack([l0[ok], l1[ok], l2[ok]], 1)
        return cls(int(lo[0]), int(lo[1]), w, h, len(mesh_xy), vid, bary)

    def field(self, disp_xy: np.ndarray) -> np.ndarray:
        """Dense forward field (h x w x 2, pixels) of a mesh displacement (N x 2 pixels)."""
        full = np.zeros((len(disp_xy) + 48 + 1, 2), np.float32)
        full[: len(disp_xy)] = disp_xy
        vid = np.where(self.vid < 0, len(full) - 1, self.vid)
        f = (full[vid] * self.bary[..., None]).sum(1)
        return f.reshape(self.h, self.w, 2)


def basis_fields(grid: WarpGrid, disps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Dense field of every basis displacement (fields are linear in the displacement)."""
    return {k: grid.field(v) for k, v in disps.items()}


def inverse_map(fwd: np.ndarray, iters: int = 4) -> np.ndarray:
    """Backward offsets u (h x w x 2) with p = x + F(x) for x = p - u(p)."""
    h, w = fwd.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    u = fwd.copy()
    for _ in range(iters):
        mx, my = gx - u[..., 0], gy - u[..., 1]
        u = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return u


def apply_field(image: np.ndarray, grid: WarpGrid, fwd: np.ndarray) -> np.ndarray:
    """``image`` with its face region moved by the forward field ``fwd`` (pixels)."""
    if not np.any(fwd):
        return image
    u = inverse_map(fwd)
    h, w = fwd.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx = gx - u[..., 0] + grid.x0
    my = gy - u[..., 1] + grid.y0
    out = image.copy()
    out[grid.y0 : grid.y0 + h, grid.x0 : grid.x0 + w] = cv2.remap(
        image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return out
