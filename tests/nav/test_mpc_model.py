"""The MPC's constant-curvature model (room.nav.navigators.arc_points) against the closed form,
including the straight section (theta = 0), which once collapsed onto the section's base."""

from __future__ import annotations

import numpy as np
import pytest

from room.nav.navigators import arc_points

L = 0.03  # m, the default bending section


@pytest.mark.parametrize("theta", [0.0, 1e-9, 1e-4, 0.7, -1.2, np.pi])
def test_arc_points_match_the_closed_form(theta):
    u = np.array([0.25, 0.5, 1.0])
    p = arc_points(np.array(theta), L, u)
    if abs(theta) < 1e-6:  # straight: along z, the arc length (1e-9 rad bends 1e-11 m aside)
        ref = np.stack([0 * u, 0 * u, L * u], 1)
    else:  # bent towards -y on a circle of radius L / theta
        r = L / theta
        ref = np.stack([0 * u, -r * (1 - np.cos(theta * u)), r * np.sin(theta * u)], 1)
    assert np.allclose(p, ref, atol=1e-10)
    # every point lies at its arc length along the curve: chord <= arc, equal when straight
    assert np.all(np.linalg.norm(p[..., -1, :]) <= L + 1e-12)
