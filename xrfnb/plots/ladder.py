"""The information budget as a ladder: one bar a rung, from the data's ceiling down to the paper's model."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .page import phone_points, styled

#: A rung's colour by its kind (`colour_budget.RUNGS`).
KIND_COLOURS = {"ceiling": "#4d4d4d", "oracle": "#8c6bb1", "model": "#3a6ea5"}


@styled
def budget_ladder(table: pd.DataFrame, metric: str = "ms_ssim", label: str = "test MS-SSIM",
                  wrap: int = 30) -> plt.Figure:
    """Horizontal bars of `metric` per rung of a `colour_budget.ladder` table (top: the ceiling), each with
    its 95 % interval over test paintings; the largest drop between consecutive rungs is marked.

    Legible on a phone: rung names wrap at `wrap` characters, values sit at the bars' ends, and no text is
    smaller than the figure's width needs (`phone_points`).
    """
    n = len(table)
    values = table[metric].to_numpy(float)
    low, high = table[f"{metric} low"].to_numpy(float), table[f"{metric} high"].to_numpy(float)
    y = np.arange(n)[::-1]
    width = 6.4
    small = phone_points(width)
    fig, ax = plt.subplots(figsize=(width, 0.62 * n + 1.0))
    colours = [KIND_COLOURS.get(k, "#3a6ea5") for k in table["kind"]]
    start = max(0.0, np.floor((np.nanmin(low) - 0.05) * 20) / 20)
    ax.barh(y, values - start, left=start, color=colours, height=0.65)
    ax.errorbar(values, y, xerr=[values - low, high - values], fmt="none", ecolor="black", capsize=3, lw=1)
    for yi, v, hi in zip(y, values, high):
        ax.text(hi + 0.004, yi, f"{v:.3f}", va="center", fontsize=small)
    drops = (-table[metric].diff()).to_numpy(float)
    if n > 1 and np.isfinite(drops[1:]).any():
        k = int(np.nanargmax(drops[1:])) + 1
        ax.annotate("", xy=(values[k], y[k]), xytext=(values[k - 1], y[k - 1]),
                    arrowprops={"arrowstyle": "->", "color": "#c0392b", "lw": 2})
        ax.text(values[k - 1], y[k - 1] + 0.42, f"largest loss: {drops[k]:.3f}", color="#c0392b",
                fontsize=small, ha="right")
    ax.set_ylim(-0.6, n - 1 + 0.95)  # room above the top bar for the largest loss's label
    ax.set_yticks(y, [textwrap.fill(str(name), wrap) for name in table.index])
    ax.set_xlim(start, np.nanmax(high) + 0.1 * (np.nanmax(high) - start + 0.1))  # room for the values
    ax.set_xlabel(f"{label} (bars: 95 % intervals over test paintings)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in KIND_COLOURS.values()]
    fig.legend(handles, list(KIND_COLOURS), loc="lower center", ncol=len(KIND_COLOURS), fontsize=small, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))  # the legend below the axes, never over a bar
    return fig
