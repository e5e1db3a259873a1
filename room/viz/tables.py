"""Branch statistics of a centerline tree as rows (list of dicts) and as a text table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def branch_statistics(tree) -> list[dict]:
    """One row per branch: id, name, generation, parent, children, length (mm), mean radius
    (mm), and the angle (deg) between the branch and its parent's direction at the bifurcation
    (NaN for the root)."""
    rows = []
    for b in tree:
        angle = float("nan")
        if b.parent in tree.branches and len(b.points) > 2:
            p = tree.branches[b.parent]
            d_parent = p.points[-1] - p.points[max(0, len(p.points) - 4)]
            d_child = b.points[min(3, len(b.points) - 1)] - b.points[0]
            c = d_parent @ d_child / (np.linalg.norm(d_parent) * np.linalg.norm(d_child))
            angle = float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
        rows.append({"id": b.id, "name": b.name, "generation": b.generation,
                     "parent": b.parent, "children": len(b.children),
                     "length_mm": 1e3 * b.length_m, "radius_mm": 1e3 * b.radius_m,
                     "angle_deg": angle})
    return rows


def generation_summary(tree) -> list[dict]:
    """Per generation: branch count, mean length and radius (mm), mean branching angle."""
    rows = branch_statistics(tree)
    out = []
    for g in sorted({r["generation"] for r in rows}):
        sel = [r for r in rows if r["generation"] == g]
        ang = [r["angle_deg"] for r in sel if np.isfinite(r["angle_deg"])]
        out.append({"generation": g, "branches": len(sel),
                    "length_mm": float(np.mean([r["length_mm"] for r in sel])),
                    "radius_mm": float(np.mean([r["radius_mm"] for r in sel])),
                    "angle_deg": float(np.mean(ang)) if ang else float("nan")})
    return out


def format_rows(rows: Sequence[dict], floatfmt: str = ".1f") -> str:
    """Plain-text table of dict rows (same keys), columns right-aligned."""
    if not rows:
        return "(empty)"
    keys = list(rows[0])

    def cell(v) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    cells = [[cell(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
