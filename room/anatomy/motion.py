"""Respiratory (and cardiac) motion of an airway scene: a smooth, provably invertible
displacement field driven by a breathing signal.

The reference anatomy (the scene's mesh, as the CT shows it) is the end-exhale state. At time t
a point x of the reference moves to ``phi_t(x) = x + u(x, t)`` with (all lengths metres)::

    u(x, t) = b(t) F_b(p) + k(t) F_c(p),      p = clip(x, box_lo, box_hi)
    b(t)    = sin^(2n)(pi (t / T + phase))                    breathing, 0 (exhale) .. 1 (inhale)
    k(t)    = sin(2 pi (t / T_c + cardiac_phase))             cardiac, -1 .. 1
    h(p)    = clip((z_top - e . p) / L, 0, 1)                 0 at the trachea top, 1 at the base
    g(h)    = (1 - cos(pi h)) / 2                             C1 ramp, g' = (pi / 2) sin(pi h)
    F_b(p)  = g(h) (-A e + eps (p - c))                       caudal shift + expansion about c
    F_c(p)  = B q exp(-|q|^2 / 2),  q = (p - heart) / sigma   pulsation near the heart

``e`` is the craniocaudal (superior) unit axis, ``A`` the peak caudal excursion at the lung
base, ``eps`` the peak relative expansion (the airway calibre change: the local scale factor is
``1 + b eps g``), ``c`` the point on the trachea top the lungs expand from. The waveform is
Lujan's (Lujan et al., Med. Phys. 26(5), 1999: z(t) = z0 - b cos^(2n)(pi t / tau - phi), n = 1..3,
here shifted so t = 0 is end-exhale): the airway rests longer at exhale than at inhale.

Invertibility. On the box, the displacement gradient is bounded (spectral <= Frobenius <= sum of
the terms' norms) by ::

    K = A (pi / 2) / L + eps (1 + R (pi / 2) / L) + B / sigma,   R = max |p - c| over the box

(|b| <= 1, |k| <= 1; the cardiac term's gradient is (B / sigma) e^(-|q|^2/2) (I - q q^T), of norm
<= B / sigma). Clipping is 1-Lipschitz, so u is K-Lipschitz on all of R^3. With K < 1 the map
phi_t is a bi-Lipschitz homeomorphism of R^3 (a C1 diffeomorphism inside the box, where the
scene lies): injective because |u(x) - u(y)| <= K |x - y|, onto because x = y - u(x) is a
contraction, whose fixed-point iteration (:meth:`BreathingMotion.inverse`) converges
geometrically with rate K. :class:`BreathingMotion` refuses parameters with K >= MAX_LIPSCHITZ.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from room.errors import ConfigError

MAX_LIPSCHITZ = 0.5
"""Largest accepted bound K of the displacement gradient: < 1 makes every phi_t invertible;
0.5 keeps a margin and makes the inverse's fixed-point iteration gain a bit per step."""

BOX_PAD_M = 0.01
"""The field is smooth on the scene's bounding box grown by this much (1 cm): the airway and the
robot inside it lie in the smooth part; outside, the field is constant along the clipped axes."""

MOTION_KINDS = ("static", "breathing")


@dataclass(frozen=True)
class MotionConfig:
    """Tissue motion (Hydra group ``motion``). ``static``: the rigid airway of the CT. Defaults
    of ``breathing`` from physiology (docs/motion.md): 15 breaths a minute (adult at rest,
    12-20), Lujan's n = 3, 10 mm caudal shift at the lung base (some 17 mm with the
    expansion: airways move 5-20 mm toward the periphery, mostly craniocaudally), 3 % calibre
    change, 1 mm cardiac pulsation
    at 70 beats a minute near the heart. ``phase`` and ``cardiac_phase`` are fractions of a
    period at t = 0. ``randomize``: per sequence, period, amplitude and expansion are scaled by
    a factor in [1 - spread, 1 + spread] and both phases drawn uniformly (seeded per sequence).
    ``superior``: the craniocaudal axis in world coordinates (LPS: +z). ``heart_offset_m``:
    the heart centre relative to the carina (LPS: left, anterior, inferior)."""

    kind: str = "static"
    period_s: float = 4.0
    asymmetry_n: int = 3
    amplitude_m: float = 0.01
    expansion: float = 0.03
    phase: float = 0.0
    cardiac_amplitude_m: float = 0.001
    cardiac_period_s: float = 0.857
    cardiac_phase: float = 0.0
    cardiac_radius_m: float = 0.03
    heart_offset_m: tuple[float, float, float] = (0.03, -0.03, -0.04)
    superior: tuple[float, float, float] = (0.0, 0.0, 1.0)
    randomize: bool = False
    spread: float = 0.2

    def __post_init__(self) -> None:
        if self.kind not in MOTION_KINDS:
            raise ConfigError(f"motion.kind={self.kind!r}: choose one of {list(MOTION_KINDS)} "
                              "(motion=static or motion=breathing)")
        checks = [
            (self.period_s > 0, "motion.period_s must be > 0 s (default 4 s: 15 breaths/min)"),
            (self.cardiac_period_s > 0, "motion.cardiac_period_s must be > 0 s"),
            (int(self.asymmetry_n) == self.asymmetry_n and self.asymmetry_n >= 1,
             "motion.asymmetry_n must be an integer >= 1 (Lujan's n: 1 symmetric .. 3)"),
            (0 <= self.amplitude_m <= 0.05, "motion.amplitude_m must be in [0, 0.05] m"),
            (0 <= self.expansion < 0.2, "motion.expansion must be in [0, 0.2) (a fraction)"),
            (0 <= self.cardiac_amplitude_m <= 0.01,
             "motion.cardiac_amplitude_m must be in [0, 0.01] m"),
            (self.cardiac_radius_m > 0, "motion.cardiac_radius_m must be > 0 m"),
            (0 <= self.spread < 0.5, "motion.spread must be in [0, 0.5)"),
            (len(self.heart_offset_m) == 3 and len(self.superior) == 3,
             "motion.heart_offset_m and motion.superior are 3-vectors"),
            (np.linalg.norm(self.superior) > 0, "motion.superior must be a non-zero vector"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)

    @property
    def enabled(self) -> bool:
        return self.kind != "static"

    def draw(self, seed: int) -> MotionConfig:
        """This config with the per-sequence randomization applied (``randomize``), from
        ``seed`` alone; itself when not randomized."""
        if not (self.enabled and self.randomize):
            return self
        rng = np.random.default_rng([int(seed), 0x62726561])
        f = rng.uniform(1 - self.spread, 1 + self.spread, 3)
        return replace(self, period_s=self.period_s * f[0], amplitude_m=self.amplitude_m * f[1],
                       expansion=self.expansion * f[2], phase=float(rng.uniform()),
                       cardiac_phase=float(rng.uniform()), randomize=False)


class BreathingMotion:
    """The field of the module docstring for one scene; all arrays float64 metres, world frame.

    ``params``: the resolved parameters (:meth:`to_dict`; what info.json records under
    ``motion``). Build with :meth:`for_scene`."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = {k: (list(map(float, v)) if isinstance(v, list | tuple | np.ndarray)
                           else v) for k, v in params.items()}
        p = self.params
        self.period, self.n = float(p["period_s"]), int(p["asymmetry_n"])
        self.phase, self.A, self.eps = float(p["phase"]), float(p["amplitude_m"]), float(
            p["expansion"])
        self.B, self.Tc = float(p["cardiac_amplitude_m"]), float(p["cardiac_period_s"])
        self.phase_c, self.sigma = float(p["cardiac_phase"]), float(p["cardiac_radius_m"])
        e = np.asarray(p["superior"], float)
        self.e = e / np.linalg.norm(e)
        self.lo, self.hi = np.asarray(p["box_lo"], float), np.asarray(p["box_hi"], float)
        self.c, self.heart = np.asarray(p["centre"], float), np.asarray(p["heart"], float)
        self.z_top, self.L = float(p["z_top"]), float(p["length_m"])
        if not self.L > 0:
            raise ConfigError("motion: the scene has no extent along motion.superior")
        self.K = self.lipschitz_bound()
        if not self.K < MAX_LIPSCHITZ:
            raise ConfigError(
                f"motion: the displacement gradient may reach {self.K:.3f} (bound), >= "
                f"{MAX_LIPSCHITZ}, so the breathing map might fold the airway; lower "
                "motion.amplitude_m, motion.expansion or motion.cardiac_amplitude_m, or raise "
                "motion.cardiac_radius_m")

    @classmethod
    def for_scene(cls, cfg: MotionConfig, vertices: np.ndarray,
                  carina: np.ndarray | None = None) -> BreathingMotion:
        """The field of ``cfg`` (already drawn: :meth:`MotionConfig.draw`) on a scene with
        reference ``vertices`` (N, 3); ``carina``: where the heart offset starts (default: the
        point of the vertices' centroid axis 60 % down from the top)."""
        v = np.asarray(vertices, float)
        e = np.asarray(cfg.superior, float)
        e = e / np.linalg.norm(e)
        s = v @ e
        z_top, z_bot = float(s.max()), float(s.min())
        lo, hi = v.min(axis=0) - BOX_PAD_M, v.max(axis=0) + BOX_PAD_M
        mid = v.mean(axis=0)
        centre = mid + (z_top - mid @ e) * e
        if carina is None:
            carina = centre - 0.6 * (z_top - z_bot) * e
        d = asdict(cfg)
        for k in ("kind", "randomize", "spread", "heart_offset_m"):
            d.pop(k)
        d.update(box_lo=lo, box_hi=hi, centre=centre, z_top=z_top, length_m=z_top - z_bot,
                 heart=np.asarray(carina, float) + np.asarray(cfg.heart_offset_m, float),
                 superior=e)
        return cls(d)

    def to_dict(self) -> dict[str, Any]:
        """The resolved parameters (JSON-ready): rebuilds the same field."""
        return {"model": "breathing-v1", **self.params}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BreathingMotion:
        if d.get("model") != "breathing-v1":
            raise ConfigError(f"unknown motion model {d.get('model')!r} (this room reads "
                              "breathing-v1)")
        return cls({k: v for k, v in d.items() if k != "model"})

    # ---------------------------------------------------------------------------------------
    def lipschitz_bound(self) -> float:
        """K of the module docstring (an upper bound of |grad u| over all of R^3)."""
        corners = np.array([[a, b, c] for a in (self.lo[0], self.hi[0])
                            for b in (self.lo[1], self.hi[1]) for c in (self.lo[2], self.hi[2])])
        R = float(np.linalg.norm(corners - self.c, axis=1).max())
        h = math.pi / 2
        return self.A * h / self.L + self.eps * (1 + R * h / self.L) + self.B / self.sigma

    def signals(self, t: float) -> tuple[float, float]:
        """(b, k): breathing in [0, 1] (0 = end-exhale = the reference) and cardiac in [-1, 1]
        at time t (s)."""
        b = math.sin(math.pi * (t / self.period + self.phase)) ** (2 * self.n)
        k = math.sin(2 * math.pi * (t / self.Tc + self.phase_c)) if self.B > 0 else 0.0
        return float(b), float(k)

    def basis(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(F_b, F_c) (N, 3) at points x (N, 3): u = b F_b + k F_c."""
        p = np.clip(np.asarray(x, float), self.lo, self.hi)
        h = np.clip((self.z_top - p @ self.e) / self.L, 0.0, 1.0)
        g = 0.5 * (1.0 - np.cos(np.pi * h))
        fb = g[:, None] * (self.eps * (p - self.c) - self.A * self.e)
        q = (p - self.heart) / self.sigma
        fc = (self.B * np.exp(-0.5 * np.einsum("ij,ij->i", q, q)))[:, None] * q
        return fb, fc

    def displacement(self, x: np.ndarray, t: float) -> np.ndarray:
        """u(x, t) (N, 3)."""
        b, k = self.signals(t)
        fb, fc = self.basis(x)
        return b * fb + k * fc

    def forward(self, x: np.ndarray, t: float) -> np.ndarray:
        """phi_t(x): reference points -> their positions at time t."""
        x = np.asarray(x, float)
        return x + self.displacement(x, t)

    def inverse(self, y: np.ndarray, t: float, tol: float = 1e-12,
                max_iter: int = 200) -> np.ndarray:
        """phi_t^-1(y) by the fixed-point iteration x <- y - u(x, t) (a contraction of rate
        K < 1, so it converges for every y); ``tol`` in metres."""
        y = np.asarray(y, float)
        x = y.copy()
        for _ in range(max_iter):
            nx = y - self.displacement(x, t)
            if np.max(np.abs(nx - x), initial=0.0) <= tol:
                return nx
            x = nx
        return x

    def jacobian(self, x: np.ndarray, t: float) -> np.ndarray:
        """grad u (N, 3, 3) at points x: ``J[i, a, b] = d u_a / d x_b`` (0 along clipped
        axes, where u is constant)."""
        b, k = self.signals(t)
        jb, jc = self.basis_jacobians(x)
        return b * jb + k * jc

    def basis_jacobians(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(grad F_b, grad F_c) (N, 3, 3) at x."""
        x = np.asarray(x, float)
        p = np.clip(x, self.lo, self.hi)
        inside = ((x >= self.lo) & (x <= self.hi)).astype(float)  # (N, 3) clip derivative
        hr = (self.z_top - p @ self.e) / self.L
        h = np.clip(hr, 0.0, 1.0)
        g = 0.5 * (1.0 - np.cos(np.pi * h))
        dg = np.where((hr > 0) & (hr < 1), 0.5 * np.pi * np.sin(np.pi * h), 0.0) / self.L
        eye = np.eye(3)
        jb = (self.eps * g)[:, None, None] * eye + (self.A * dg)[:, None, None] * np.outer(
            self.e, self.e) - (self.eps * dg)[:, None, None] * np.einsum(
            "ia,b->iab", p - self.c, self.e)
        q = (p - self.heart) / self.sigma
        w = self.B / self.sigma * np.exp(-0.5 * np.einsum("ij,ij->i", q, q))
        jc = w[:, None, None] * (eye - np.einsum("ia,ib->iab", q, q))
        return jb * inside[:, None, :], jc * inside[:, None, :]

    def local_rotation(self, x: np.ndarray, t: float) -> np.ndarray:
        """(N, 3, 3) rotation part of the polar decomposition of d phi_t / dx = I + grad u at
        x: the local rigid motion of the tissue (the tip camera's orientation change)."""
        m = np.eye(3) + self.jacobian(np.atleast_2d(x), t)
        u, _, vt = np.linalg.svd(m)
        return u @ vt


def make_motion(cfg: MotionConfig | None, scene: Any, seed: int = 0) -> BreathingMotion | None:
    """The motion of ``scene`` under ``cfg`` for one sequence (``seed``: its randomization),
    or None for static. The carina is the end of the tree's root branch."""
    if cfg is None or not cfg.enabled:
        return None
    carina = None
    tree = getattr(scene, "tree", None)
    if tree is not None and tree.root in tree.branches:
        carina = np.asarray(tree.branches[tree.root].points[-1], float)
    return BreathingMotion.for_scene(cfg.draw(seed), np.asarray(scene.mesh.vertices), carina)


def move_pose(motion: BreathingMotion | None, T_world_cam: np.ndarray, t: float) -> np.ndarray:
    """A camera pose planned in the reference anatomy carried by the tissue at time t: its
    centre moved by phi_t, its axes by the local rotation of the field there (the polar
    decomposition of the deformation gradient), so the scope tip keeps its place and its
    view direction relative to the airway wall around it. Identity map for None."""
    T = np.array(T_world_cam, dtype=float)
    if motion is None:
        return T
    p = T[None, :3, 3]
    out = T.copy()
    out[:3, 3] = motion.forward(p, t)[0]
    out[:3, :3] = motion.local_rotation(p, t)[0] @ T[:3, :3]
    return out
