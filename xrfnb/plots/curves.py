"""Figures of numbers: training curves, distributions, metric curves and bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from .page import PHONE_WIDTH_IN, styled

if TYPE_CHECKING:
    import pandas as pd


def panel_grid(fig: plt.Figure, panels: int, ncols: int, **kw) -> list[plt.Axes]:
    """`panels` axes in rows of `ncols`; a last row that is not full shares the whole width among its panels
    (one panel under two spans both), so that no corner of a narrow figure is left empty."""
    ncols = max(1, min(ncols, panels))
    nrows = int(np.ceil(panels / ncols))
    last = panels - ncols * (nrows - 1)
    grid = fig.add_gridspec(nrows, ncols * last, **kw)  # a full row's panel spans `last` columns, a last row's `ncols`
    axes = [fig.add_subplot(grid[k // ncols, (k % ncols) * last:(k % ncols + 1) * last])
            for k in range(ncols * (nrows - 1))]
    return axes + [fig.add_subplot(grid[nrows - 1, j * ncols:(j + 1) * ncols]) for j in range(last)]


@styled
def training_curves(metrics: pd.DataFrame, terms: list[str], weights: list[str] = (),
                    weights_title: str = "loss weights", ncols: int = 2) -> plt.Figure:
    """Per-epoch train and validation curves of each loss term, and a last panel of schedules (`weights`,
    titled `weights_title`: the loss weights of the DVE, the learning rate of SmallUViT).

    Drawn for a phone too (PHONE_WIDTH_IN wide): panels wrap into rows of `ncols`, each titled with its term,
    a last lone panel across the width; one legend for train and validation sits above the grid, away
    from the data.
    """
    per_epoch = metrics.groupby("epoch").mean(numeric_only=True)
    panels = len(terms) + (1 if weights else 0)
    nrows = int(np.ceil(panels / max(1, min(ncols, panels))))
    fig = plt.figure(figsize=(PHONE_WIDTH_IN, 0.4 + 2.1 * nrows))
    axes = panel_grid(fig, panels, ncols)
    for ax, term in zip(axes, terms):
        for split, style in (("train", "-"), ("val", "--")):
            col = f"{split}_{term}"
            if col in per_epoch:
                ax.plot(per_epoch.index, per_epoch[col], style, marker=".", ms=4, label=split)
        ax.set_title(term)
    if weights:
        ax = axes[panels - 1]
        for w in weights:
            ax.plot(per_epoch.index, per_epoch[w], marker=".", ms=4, label=w)
        ax.set_title(weights_title)
        if weights_title == "learning rate":
            ax.set_yscale("log")
        if len(weights) > 1:
            ax.legend(loc="best", framealpha=0.9)
    last_row = panels - min(ncols, panels) * (nrows - 1)
    for k, ax in enumerate(axes):
        ax.locator_params(axis="x", nbins=4, integer=True)
        if ax.get_yscale() == "linear":
            ax.locator_params(axis="y", nbins=4)
        if k >= panels - last_row:
            ax.set_xlabel("epoch")
    handles, names = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (0.4 + 2.1 * nrows)))
    if handles:
        fig.legend(handles, names, loc="upper center", ncol=len(names), frameon=False)
    return fig


@styled
def distributions(table: pd.DataFrame, columns: list[str], ncols: int = 2) -> plt.Figure:
    """Histogram of each per-image metric with its mean marked (and given in its title), in rows of
    `ncols`, drawn for a phone too (PHONE_WIDTH_IN wide)."""
    nrows = int(np.ceil(len(columns) / max(1, min(ncols, len(columns)))))
    fig = plt.figure(figsize=(PHONE_WIDTH_IN, 2.2 * nrows))
    axes = panel_grid(fig, len(columns), ncols)
    for k, (ax, col) in enumerate(zip(axes, columns)):
        mean = table[col].mean()
        ax.hist(table[col], bins=min(20, max(5, len(table) // 2)), color="C0", alpha=0.8)
        ax.axvline(mean, color="C3", lw=1.5)
        ax.set_title(f"{col}, mean {mean:.3f}", fontsize=10)
        ax.locator_params(axis="x", nbins=4)
        if k % ncols == 0:
            ax.set_ylabel("images")
    fig.tight_layout()
    return fig


@styled
def metric_curves(table: pd.DataFrame, columns: list[str], xlabel: str, logx: bool = True) -> plt.Figure:
    """Each metric against the table's index (e.g. counts per pixel), one panel a metric, stacked on a
    shared x axis: drawn for a phone too (PHONE_WIDTH_IN wide)."""
    fig, axes = plt.subplots(len(columns), 1, figsize=(PHONE_WIDTH_IN, 0.6 + 1.5 * len(columns)), sharex=True,
                             squeeze=False)
    for ax, col in zip(axes[:, 0], columns):
        ax.plot(table.index, table[col], marker="o")
        if logx:
            ax.set_xscale("log")
            ax.set_xticks(list(table.index), [f"{v:g}" for v in table.index])
            ax.minorticks_off()
        ax.set_ylabel(col)
        ax.locator_params(axis="y", nbins=3)
    axes[-1, 0].set_xlabel(xlabel)
    fig.tight_layout()
    return fig


@styled
def bar(x, heights, xlabel: str, ylabel: str, title: str = "") -> plt.Figure:
    """A plain bar chart with every x labelled (counts of a small integer quantity)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(list(x), list(heights), color="0.35")
    ax.set_xticks(list(x))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.tight_layout()
    return fig
