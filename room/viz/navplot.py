"""A navigation suite at a glance (``room-navigate`` writes it as ``results.png``): every trial
at its target's turn (the largest turn of the path within one bending length, degrees; the
target's difficulty, :mod:`room.env.task`) against how far it got along the path towards its
goal, one panel per navigator, success filled, failure hollow and labelled with the target.
The "hard" threshold is drawn. Built with matplotlib's object API (headless, no pyplot state).
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def results_figure(results: dict[str, Any], hard_turn_deg: float | None = None) -> Figure:
    """``results``: a ``results.json`` dict (format room.navigate/1). x: each trial's target
    turn (degrees); y: its final progress over the goal's arc length (1 = the target's last
    third reached); colour: the target's generation."""
    navs = results["navigators"]
    if hard_turn_deg is None:
        hard_turn_deg = float(results.get("config", {}).get("task", {}).get("hard_turn_deg",
                                                                            90.0))
    gmax = max(2, max(m["generation"] for n in navs.values() for m in n["trials"]))
    cmap = matplotlib.colormaps["viridis"].resampled(gmax)  # one colour per generation 1..
    fig = Figure(figsize=(4.2 * len(navs) + 0.8, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(navs), squeeze=False)[0])
    for ax, (name, nav) in zip(axes, navs.items(), strict=True):
        tr = nav["trials"]
        x = np.array([m["turn_deg"] for m in tr], float)
        y = np.array([m["progress_m"] / max(m["goal_s_m"], 1e-9) for m in tr], float)
        g = np.array([m["generation"] for m in tr])
        ok = np.array([m["success"] for m in tr], bool)
        # seeds of one target share x: spread them a little so both stay visible
        x = x + 0.6 * (np.array([m["seed"] for m in tr]) - np.mean([m["seed"] for m in tr]))
        sc = ax.scatter(x[ok], y[ok], c=g[ok], cmap=cmap, vmin=0.5, vmax=gmax + 0.5, s=28,
                        label="success")
        ax.scatter(x[~ok], y[~ok], facecolors="none", edgecolors="tab:red", s=40,
                   label="failure")
        for i in np.flatnonzero(~ok):
            ax.annotate(str(tr[i]["target"]), (x[i], y[i]), fontsize=7, xytext=(3, 2),
                        textcoords="offset points")
        ax.axvline(hard_turn_deg, color="0.4", ls="--", lw=1)
        ax.text(hard_turn_deg, 0.02, " hard", color="0.3", fontsize=8, va="bottom")
        ax.axhline(1.0, color="0.8", lw=1)
        pd = nav.get("per_difficulty", {})
        counts = ", ".join(f"{k} {v['successes']}/{v['trials']}" for k, v in sorted(pd.items()))
        ax.set_title(f"{name}: {counts}", fontsize=9)
        ax.set_xlabel("target's turn within one bending length [deg]")
        ax.set_ylim(0.0, max(1.15, float(y.max()) + 0.05))
        ax.set_xlim(min(30.0, float(x.min()) - 5.0),
                    max(hard_turn_deg + 20.0, float(x.max()) + 8.0))
        ax.legend(loc="lower left", fontsize=7)
    axes[0].set_ylabel("progress / goal arc length")
    fig.colorbar(sc, ax=list(axes), label="generation", fraction=0.03,
                 ticks=range(1, gmax + 1))
    return fig
