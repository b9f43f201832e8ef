"""Chapter 8's figures: each shift's test MS-SSIM before and after adaptation, and the spectra it changes."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .page import phone_points, styled

#: Chapter 8's figures are drawn this wide (inches), their smallest text at `phone_points` of it.
WIDTH_IN = 6.4

#: Before and after adaptation.
WHEN_COLOURS = {"before": "#c0392b", "after": "#3a6ea5"}


@styled
def shift_before_after(table: pd.DataFrame, labels: dict[str, str], metric: str = "ms_ssim",
                       label: str = "test MS-SSIM", wrap: int = 24) -> plt.Figure:
    """One panel per model of `domain_shift.summary`'s table: each shift's `metric` before (red) and after
    (blue) adaptation with their 95 % intervals over test paintings, the unshifted value as a dotted line.
    Stacked panels, shift names wrapped, text at `phone_points`: legible on a phone."""
    small = max(11.0, phone_points(WIDTH_IN))
    models = list(dict.fromkeys(table["model"]))
    shifts = list(dict.fromkeys(table["shift"]))
    y = np.arange(len(shifts))[::-1]
    fig, axes = plt.subplots(len(models), 1, figsize=(WIDTH_IN, (0.42 * len(shifts) + 1.0) * len(models)), sharex=True,
                             squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        rows = table[table["model"] == model].set_index("shift").loc[shifts]
        for when, offset in (("before", 0.14), ("after", -0.14)):
            v = rows[f"{when}_{metric}"].to_numpy(float)
            lo, hi = rows[f"{when}_{metric}_low"].to_numpy(float), rows[f"{when}_{metric}_high"].to_numpy(float)
            ax.errorbar(v, y + offset, xerr=[v - lo, hi - v], fmt="o", color=WHEN_COLOURS[when], capsize=2, ms=5,
                        lw=1, label=f"{when} adaptation")
        if "unshifted" in rows.index:
            ax.axvline(rows.loc["unshifted", f"before_{metric}"], color="#4d4d4d", ls=":", lw=1)
        ax.set_yticks(y, [textwrap.fill(labels.get(s, s), wrap) for s in shifts])
        ax.set_title(model, fontsize=small)
    axes[-1, 0].set_xlabel(f"{label} (bars: 95 % intervals over test paintings)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=2, fontsize=small, frameon=False)
    fig.tight_layout(rect=(0, 0.04 if len(models) > 1 else 0.07, 1, 1))
    return fig


@styled
def shifted_spectra(energy: np.ndarray, spectra: dict[str, np.ndarray], reference: str, ncols: int = 2,
                    wrap: int = 28) -> plt.Figure:
    """Each shift's summed test spectrum (one panel each, log counts) over the unshifted one (grey): where in
    energy a shift changes what the DVE sees. Text at `phone_points`: legible on a phone."""
    small = max(11.0, phone_points(WIDTH_IN))
    names = [n for n in spectra if n != reference]
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH_IN, 1.9 * nrows + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    base = spectra[reference] / spectra[reference].sum()
    for ax, name in zip(axes.ravel(), names):
        ax.semilogy(energy, np.maximum(base, 1e-7), color="#9a9a9a", lw=0.8)
        s = spectra[name] / spectra[name].sum()
        ax.semilogy(energy, np.maximum(s, 1e-7), color="#3a6ea5", lw=0.8)
        ax.set_title(textwrap.fill(name, wrap), fontsize=small)
        ax.set_ylim(1e-6, None)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    for column in range(ncols):  # the lowest panel drawn in each column carries the energy axis
        shown = [ax for k, ax in enumerate(axes[:, column]) if k * ncols + column < len(names)]
        if shown:
            shown[-1].xaxis.set_tick_params(labelbottom=True)
            shown[-1].set_xlabel("energy (keV)")
    fig.supylabel("share of counts (grey: as trained)", fontsize=small)
    fig.tight_layout()
    return fig
