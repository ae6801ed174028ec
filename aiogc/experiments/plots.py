"""Plots of the compare experiment (matplotlib, imported lazily, Agg backend).

``plot_compare(result, timelines, path)`` draws, side by side:
  1. heap live and heap goal over virtual time for one seed, fix on and fix off;
  2. the coordinator latency distribution per GOMAXPROCS, fix on vs off;
  3. the overshoot distribution per GOMAXPROCS, fix on vs off.
``timelines`` is the ``collect`` dict filled by ``compare(..., collect=...)``
(``"timelines"``, ``"samples"``, ``"timeline_seed"``, ``"timeline_gomaxprocs"``); without
per-cycle samples the distributions fall back to the p50/p99/max of ``result``.
"""

from __future__ import annotations

import os
from typing import Any

from aiogc.errors import AiogcError

INSTALL_HINT = "matplotlib is needed for --plot: pip install -e '.[plot]'"


class PlotUnavailable(AiogcError, ImportError):
    """matplotlib is not installed."""


def require_matplotlib() -> Any:
    """Import matplotlib with the Agg backend, or raise ``PlotUnavailable`` saying how to install it."""
    try:
        import matplotlib
    except ImportError as e:
        raise PlotUnavailable(INSTALL_HINT) from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _dist(ax: Any, result: dict[str, Any], samples: dict[Any, list[dict[str, Any]]] | None, metric: str,
          scale: float, ylabel: str, log: bool) -> None:
    gmps = sorted({r["gomaxprocs"] for r in result["results"]})
    colors = {True: "tab:green", False: "tab:red"}
    for j, g in enumerate(gmps):
        for y, dx in ((True, -0.18), (False, 0.18)):
            x = j + dx
            vals: list[float]
            if samples and (g, y) in samples:
                vals = [c[metric] * scale for c in samples[(g, y)]]
                if log:
                    vals = [max(v, 1e-3) for v in vals]
                if vals:
                    parts = ax.violinplot([vals], positions=[x], widths=0.32, showmedians=True)
                    for body in parts["bodies"]:
                        body.set_facecolor(colors[y])
                        body.set_alpha(0.45)
                    for key in ("cmedians", "cmins", "cmaxes", "cbars"):
                        if key in parts:
                            parts[key].set_color(colors[y])
                    ax.scatter([x] * len(vals), vals, s=6, color=colors[y], alpha=0.6, zorder=3)
            else:
                r = next((r for r in result["results"] if r["gomaxprocs"] == g and r["yield_after_assist"] == y),
                         None)
                if r is None:
                    continue
                st = r[metric]
                pts = [st[k] * scale for k in ("p50", "p99", "max") if st.get(k) is not None]
                ax.scatter([x] * len(pts), pts, color=colors[y], marker="_", s=200)
    ax.set_xticks(range(len(gmps)), [str(g) for g in gmps])
    ax.set_xlabel("GOMAXPROCS")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colors[True], label="fix on"), Patch(color=colors[False], label="fix off")],
              fontsize=8)


def plot_compare(result: dict[str, Any], timelines: dict[str, Any] | None, path: str | os.PathLike[str]) -> None:
    """Write the compare figure to ``path`` (PNG, or any format matplotlib infers from the suffix)."""
    plt = require_matplotlib()
    tl = (timelines or {}).get("timelines") or {}
    samples = (timelines or {}).get("samples")
    fig, axes = plt.subplots(1, 3, figsize=(17, 5), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    ax = axes[0]
    styles = {True: ("tab:green", "fix on"), False: ("tab:red", "fix off")}
    for y in (True, False):
        pts = tl.get(y)
        if not pts:
            continue
        c, label = styles[y]
        xs = [p[0] / 1e6 for p in pts]
        ax.plot(xs, [p[1] / (1 << 20) for p in pts], color=c, lw=1.0, label=f"heap live, {label}")
        ax.plot(xs, [p[2] / (1 << 20) for p in pts], color=c, lw=1.0, ls="--", label=f"heap goal, {label}")
    if tl:
        ax.set_title(f"heap vs goal, seed {timelines.get('timeline_seed') if timelines else '?'}, "
                     f"GOMAXPROCS={timelines.get('timeline_gomaxprocs') if timelines else '?'}")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    else:
        ax.set_title("heap vs goal (no timeline collected)")
    ax.set_xlabel("virtual time (ms)")
    ax.set_ylabel("MB (log scale)")
    _dist(axes[1], result, samples, "coordinator_latency_ns", 1e-3, "coordinator latency (µs, log)", True)
    axes[1].set_title("coordinator latency per cycle")
    _dist(axes[2], result, samples, "overshoot", 100.0, "overshoot of the heap goal (%)", False)
    axes[2].axhline(0, color="grey", lw=0.8)
    axes[2].set_title("heap-goal overshoot per cycle")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
