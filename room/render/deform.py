"""The renderer's moving mesh: the scene's vertices displaced by a motion field
(:class:`room.anatomy.motion.BreathingMotion`) at a frame's time.

The field is ``u(x, t) = b(t) F_b(x) + k(t) F_c(x)``, so the two spatial parts and their
gradients are evaluated once per vertex; a frame then costs two multiply-adds over the vertices,
the face planes, the shading normals (carried by the cofactor of the deformation gradient, the
exact transformation of a normal under a smooth map) and a refit of the culling boxes.

A frame's surface is the triangle mesh with moved vertices (the same faces): what
``SequenceReader.mesh(i)`` rebuilds. Every ground-truth modality is exact for that mesh, and a
material point of the surface is a point with fixed barycentric coordinates on its face.
"""

from __future__ import annotations

import numpy as np

from room.anatomy.motion import BreathingMotion


def face_planes(vertices: np.ndarray, faces: np.ndarray,
                origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit face normals (F, 3) (right-hand winding, trimesh's convention) and plane offsets
    n . (v0 - origin) (F,), float64."""
    v0, v1, v2 = (vertices[faces[:, k]] for k in range(3))
    n = np.cross(v1 - v0, v2 - v0)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-300
    return n, np.einsum("ij,ij->i", n, v0 - origin)


def cofactor_normals(normals: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """Unit normals carried by the map with deformation gradient ``I + jac`` (N, 3, 3):
    n' ~ cof(I + J) n = det (I + J)^-T n (positive determinant: the map preserves
    orientation)."""
    m = np.eye(3) + jac
    c0, c1, c2 = m[:, :, 0], m[:, :, 1], m[:, :, 2]
    cof = np.stack([np.cross(c1, c2), np.cross(c2, c0), np.cross(c0, c1)], axis=2)
    out = np.einsum("nij,nj->ni", cof, normals)
    out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-300
    return out


class MeshMotion:
    """The moving scene mesh: reference ``vertices`` (V, 3) float64 and the field ``motion``.
    ``at(t)`` returns the moved vertices (cached for the last few times)."""

    CACHE = 4

    def __init__(self, motion: BreathingMotion, vertices: np.ndarray) -> None:
        self.motion = motion
        self.ref = np.asarray(vertices, np.float64)
        self.fb, self.fc = motion.basis(self.ref)
        self._jac: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._cache: dict[float, np.ndarray] = {}

    def signals(self, t: float) -> tuple[float, float]:
        return self.motion.signals(t)

    def at(self, t: float) -> np.ndarray:
        """Vertices (V, 3) at time t (s)."""
        t = float(t)
        v = self._cache.get(t)
        if v is None:
            b, k = self.motion.signals(t)
            v = self.ref + b * self.fb
            if k != 0.0:
                v += k * self.fc
            if len(self._cache) >= self.CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[t] = v
        return v

    def jacobian_parts(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(grad F_b, grad F_c) (N, 3, 3) at the reference vertices ``index`` (cached for the
        last ``index``): grad u = b grad F_b + k grad F_c."""
        if self._jac is None or self._jac[0] is not index:
            jb, jc = self.motion.basis_jacobians(self.ref)
            self._jac = (index, np.ascontiguousarray(jb[index]), np.ascontiguousarray(jc[index]))
        return self._jac[1], self._jac[2]

    def jacobian(self, t: float, index: np.ndarray) -> np.ndarray:
        """grad u (N, 3, 3) at the reference vertices ``index`` at time t."""
        jb, jc = self.jacobian_parts(index)
        b, k = self.motion.signals(t)
        out = b * jb
        if k != 0.0:
            out += k * jc
        return out
