"""Figures of numbers: training curves, distributions, metric curves and bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from .page import styled

if TYPE_CHECKING:
    import pandas as pd


@styled
def training_curves(metrics: pd.DataFrame, terms: list[str], weights: list[str] = (),
                    weights_title: str = "loss weights", ncols: int = 3) -> plt.Figure:
    """Per-epoch train and validation curves of each loss term, and a last panel of schedules (`weights`,
    titled `weights_title`: the loss weights of the DVE, the learning rate of SmallUViT).

    Panels wrap into rows of `ncols`, each with its own y label; one legend for train and validation sits
    above the grid, away from the data.
    """
    per_epoch = metrics.groupby("epoch").mean(numeric_only=True)
    panels = len(terms) + (1 if weights else 0)
    ncols = min(ncols, panels)
    nrows = int(np.ceil(panels / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.7 * ncols, 2.9 * nrows), squeeze=False)
    axes = axes.ravel()
    for ax, term in zip(axes, terms):
        for split, style in (("train", "-"), ("val", "--")):
            col = f"{split}_{term}"
            if col in per_epoch:
                ax.plot(per_epoch.index, per_epoch[col], style, marker=".", label=split)
        ax.set(title=term, xlabel="epoch", ylabel=term)
    if weights:
        ax = axes[panels - 1]
        for w in weights:
            ax.plot(per_epoch.index, per_epoch[w], marker=".", label=w)
        ax.set(title=weights_title, xlabel="epoch", ylabel="value")
        if weights_title == "learning rate":
            ax.set_yscale("log")
        if len(weights) > 1:
            ax.legend(fontsize=9, loc="best", framealpha=0.9)
    for ax in axes[panels:]:
        fig.delaxes(ax)
    for ax in axes[:panels]:
        ax.locator_params(axis="x", nbins=5, integer=True)
        if ax.get_yscale() == "linear":
            ax.locator_params(axis="y", nbins=4)
    handles, names = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.9 * nrows)))
    if handles:
        fig.legend(handles, names, loc="upper center", ncol=len(names), fontsize=10, frameon=False)
    return fig


@styled
def distributions(table: pd.DataFrame, columns: list[str]) -> plt.Figure:
    """Histogram of each per-image metric with its mean marked."""
    fig, axes = plt.subplots(1, len(columns), figsize=(3.3 * len(columns), 2.8))
    for ax, col in zip(np.atleast_1d(axes), columns):
        ax.hist(table[col], bins=min(20, max(5, len(table) // 2)), color="C0", alpha=0.8)
        ax.axvline(table[col].mean(), color="C3", lw=1.5, label=f"mean {table[col].mean():.3f}")
        ax.set(title=col, xlabel=col, ylabel="images")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@styled
def metric_curves(table: pd.DataFrame, columns: list[str], xlabel: str, logx: bool = True) -> plt.Figure:
    """Each metric against the table's index (e.g. counts per pixel)."""
    fig, axes = plt.subplots(1, len(columns), figsize=(3.3 * len(columns), 2.8))
    for ax, col in zip(np.atleast_1d(axes), columns):
        ax.plot(table.index, table[col], marker="o")
        if logx:
            ax.set_xscale("log")
        ax.set(title=col, xlabel=xlabel)
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
