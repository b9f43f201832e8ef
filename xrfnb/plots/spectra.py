"""Figures of spectra and pigments: swatches, spectrum grids, the instrument, DVE reconstructions."""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np

from .page import PAGE_WIDTH_IN, PHONE_WIDTH_IN, phone_points, styled, wrap_to


@styled
def swatches(names: list[str], rgb: np.ndarray, ncols: int = 4) -> plt.Figure:
    """Colour swatches with their names and sRGB values, `ncols` to a row of 1.25 in each (four: narrow
    enough for a phone), titles sized for the figure's width (`phone_points`)."""
    ncols = min(ncols, max(1, len(names)))
    nrows = int(np.ceil(len(names) / ncols))
    side = min(1.25, PAGE_WIDTH_IN / ncols)
    points = max(9.0, phone_points(side * ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, (side * 0.75 + 3.2 * points / 72) * nrows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, name, c in zip(axes.ravel(), names, rgb):
        ax.imshow(np.broadcast_to(np.asarray(c, dtype=np.uint8), (6, 8, 3)))
        ax.set_title(f"{wrap_to(name, side, points)}\n{tuple(int(v) for v in c)}", fontsize=points)
    fig.tight_layout(pad=0.3)
    return fig


#: Relative luminance above which a pigment's own colour is too pale to draw a line on white.
MAX_LINE_LUMINANCE = 0.45


def line_colour(rgb) -> np.ndarray:
    """A pigment's colour for a line on white: its own hue, darkened until its luminance is at most
    MAX_LINE_LUMINANCE (Titanium White becomes a mid grey instead of vanishing)."""
    c = np.asarray(rgb, float) / 255
    luminance = float(c @ (0.2126, 0.7152, 0.0722))
    return c * min(1.0, MAX_LINE_LUMINANCE / max(luminance, 1e-6))


def spread_labels(positions: list[float], gap: float) -> list[float]:
    """Label positions moved apart so that neighbours are at least `gap` apart, centred on the originals."""
    if not positions:
        return []
    order = np.argsort(positions)
    placed = np.asarray(positions, float)[order]
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    placed -= (placed - np.asarray(positions, float)[order]).mean()
    out = np.empty_like(placed)
    out[order] = placed
    return out.tolist()


@styled
def spectra_grid(energy: np.ndarray, spectra: np.ndarray, names: list[str], rgb: np.ndarray,
                 labels: list[list[tuple[str, float]]] | None = None, ncols: int = 2,
                 max_labels: int = 5, compare: np.ndarray | None = None,
                 legend: tuple[str, str] = ("reference", "fresco")) -> plt.Figure:
    """One log-scale spectrum per panel, in the pigment's colour (darkened where pale), with its main lines
    labelled in a row above the curve, spread apart and joined to their peaks.

    `compare` (same shape as `spectra`) is drawn beneath each spectrum as a dotted grey line, e.g. the same
    pigment under another sample model; `legend` names the two. A swatch beside each title shows the
    pigment's own colour.

    At most the page's width, every text sized for a phone (`phone_points`), line labels spread a text
    height apart.
    """
    nrows = int(np.ceil(len(names) / ncols))
    width = min(5.0 * ncols, PAGE_WIDTH_IN)
    points = phone_points(width)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 3.0 * nrows), sharex=True, sharey=True, squeeze=False)
    axes = axes.ravel()
    floor = max(spectra[spectra > 0].min(), 1e-7)
    label_y, top = 3.0, 1e4  # labels stand on 3, above every curve (spectra are fractions <= 1)
    panel_in = 0.8 * width / ncols  # a panel's plotting width, about
    gap = (energy[-1] - energy[0]) * 1.3 * points / 72 / panel_in  # one label's height (rotated), and a little
    for i, (ax, name, s, c) in enumerate(zip(axes, names, spectra, rgb)):
        if compare is not None:
            ax.semilogy(energy, compare[i], color="0.55", lw=0.9, ls=":", label=legend[1])
        ax.semilogy(energy, s, color=line_colour(c), lw=1.1, label=legend[0])
        ax.set_title(f"      {name}", fontsize=points, loc="left")
        ax.add_patch(plt.Rectangle((0.0, 1.03), 0.035, 0.1, transform=ax.transAxes, clip_on=False,
                                   facecolor=np.asarray(c) / 255, edgecolor="0.3", lw=0.6))
        ax.set_ylim(floor, top)
        ax.tick_params(labelsize=points)
        chosen = sorted((labels[i] if labels else [])[:max_labels], key=lambda t: t[1])
        xs = spread_labels([e for _, e in chosen], gap)
        for (label, e), x in zip(chosen, xs):
            j = int(np.argmin(np.abs(energy - e)))
            ax.plot([energy[j], energy[j], x], [s[j] * 1.3, label_y * 0.8, label_y], color="0.5", lw=0.5)
            ax.text(x, label_y, label, ha="center", va="bottom", fontsize=points, rotation=90)
    if compare is not None:
        axes[0].legend(fontsize=points, loc="upper right")
    for ax in axes[len(names):]:
        ax.axis("off")
    for ax in axes[-ncols:]:
        ax.set_xlabel("energy (keV)", fontsize=points)
    for ax in axes[::ncols]:
        ax.set_ylabel("fraction of counts", fontsize=points)
        ax.set_yticks([1e-6, 1e-4, 1e-2, 1])
    fig.tight_layout()
    return fig


@styled
def instrument_overview(instrument, axis, plaster: np.ndarray) -> plt.Figure:
    """Tube spectrum, detector efficiency and the bare plaster's spectrum: the model's ingredients."""
    from ..palette import physics

    e0, n0 = physics.tube_spectrum(instrument)
    # stacked on one energy axis, narrow enough for a phone
    fig, (a, b, c) = plt.subplots(3, 1, figsize=(PHONE_WIDTH_IN, 7.2), sharex=True)
    a.semilogy(e0, n0, ".", ms=2, color="0.3")
    a.set(title=wrap_to(f"{instrument.anode} tube at {instrument.tube_kv:g} kV (after {instrument.tube_be_um:g} µm Be)",
                        PHONE_WIDTH_IN - 0.8, 12), ylabel="photon fraction")
    e = axis.centres
    b.plot(e, physics.detector_efficiency(e, instrument), color="C0", label="absorbed in Si")
    b.plot(e, physics.escape_fraction(e), color="C3", label="Si escape probability")
    b.set(title="Si drift detector", ylabel="probability", ylim=(0, 1.02))
    b.legend(fontsize=9)
    c.semilogy(e, plaster, color="0.4")
    c.set(title="bare lime plaster\n(Ca, Sr, Fe, K; Ar from air)",
          xlabel="energy (keV)", ylabel="fraction of counts")
    for ax in (a, c):
        ax.locator_params(axis="y", numticks=4)
    fig.tight_layout()
    return fig


@styled
def reconstructions(energy: np.ndarray, observed: np.ndarray, reconstructed: np.ndarray,
                    titles: list[str]) -> plt.Figure:
    """Observed spectra (normalised counts) against their reconstructions, log scale, in rows of two
    (narrow enough for a phone), one legend above them."""
    from .curves import panel_grid

    n = len(observed)
    nrows = int(np.ceil(n / 2))
    fig = plt.figure(figsize=(PHONE_WIDTH_IN, 0.4 + 2.2 * nrows))
    axes = panel_grid(fig, n, 2)
    for k, (ax, obs, rec, title) in enumerate(zip(axes, observed, reconstructed, titles)):
        ax.semilogy(energy, np.where(obs > 0, obs / obs.sum(), np.nan), ".", ms=2, color="0.5", label="observed")
        ax.semilogy(energy, rec, color="C3", lw=1, label="reconstruction")
        ax.set(title=wrap_to(title, 2.2, 12), ylim=(1e-5, 0.3), yticks=[1e-4, 1e-2])
        if k % 2:  # beside the panel on its left, on the same scale
            ax.tick_params(labelleft=False)
        if k >= 2 * (nrows - 1):
            ax.set_xlabel("energy (keV)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (0.4 + 2.2 * nrows)))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False)
    return fig
