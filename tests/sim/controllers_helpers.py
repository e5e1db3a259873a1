"""Closed-loop driver shared by the controller tests."""

from __future__ import annotations

import numpy as np


def drive(sim, ctl, max_steps: int):
    """Run the controller; return (final state, worst penetration, worst distance of the tip
    to the centerline in units of the local lumen radius, joint-limit violations)."""
    lo, hi = np.array(sim.robot_cfg.q_min), np.array(sim.robot_cfg.q_max)
    pen, rel, viol = 0.0, 0.0, 0
    s = sim.state
    for _ in range(max_steps):
        s = sim.step(ctl.command(s))
        pen = max(pen, s.max_penetration_m)
        bid, k, dist = ctl.tree.nearest(s.T_world_tip[:3, 3])
        rel = max(rel, dist / ctl.tree[bid].radii[k])
        viol += int(np.any(s.q < lo - 1e-3) or np.any(s.q > hi + 1e-3))
        if ctl.done:
            break
    return s, pen, rel, viol
