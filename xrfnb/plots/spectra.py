"""Figures of spectra and pigments: swatches, spectrum grids, the instrument, DVE reconstructions."""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np

from .page import styled


@styled
def swatches(names: list[str], rgb: np.ndarray, ncols: int = 6) -> plt.Figure:
    """Colour swatches with their names and sRGB values."""
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2 * ncols, 2.1 * nrows))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, name, c in zip(np.atleast_1d(axes).ravel(), names, rgb):
        ax.imshow(np.broadcast_to(np.asarray(c, dtype=np.uint8), (8, 8, 3)))
        ax.set_title(f"{name}\n{tuple(int(v) for v in c)}", fontsize=9)
    fig.tight_layout()
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
    """
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.0 * nrows), sharex=True, sharey=True)
    axes = np.atleast_1d(axes).ravel()
    floor = max(spectra[spectra > 0].min(), 1e-7)
    label_y, top = 3.0, 1e4  # labels stand on 3, above every curve (spectra are fractions <= 1)
    gap = (energy[-1] - energy[0]) / 28
    for i, (ax, name, s, c) in enumerate(zip(axes, names, spectra, rgb)):
        if compare is not None:
            ax.semilogy(energy, compare[i], color="0.55", lw=0.9, ls=":", label=legend[1])
        ax.semilogy(energy, s, color=line_colour(c), lw=1.1, label=legend[0])
        ax.set_title(f"      {name}", fontsize=12, loc="left")
        ax.add_patch(plt.Rectangle((0.0, 1.03), 0.035, 0.1, transform=ax.transAxes, clip_on=False,
                                   facecolor=np.asarray(c) / 255, edgecolor="0.3", lw=0.6))
        ax.set_ylim(floor, top)
        ax.tick_params(labelsize=10)
        chosen = sorted((labels[i] if labels else [])[:max_labels], key=lambda t: t[1])
        xs = spread_labels([e for _, e in chosen], gap)
        for (label, e), x in zip(chosen, xs):
            j = int(np.argmin(np.abs(energy - e)))
            ax.plot([energy[j], energy[j], x], [s[j] * 1.3, label_y * 0.8, label_y], color="0.5", lw=0.5)
            ax.text(x, label_y, label, ha="center", va="bottom", fontsize=9, rotation=90)
    if compare is not None:
        axes[0].legend(fontsize=9, loc="upper right")
    for ax in axes[len(names):]:
        ax.axis("off")
    for ax in axes[-ncols:]:
        ax.set_xlabel("energy (keV)", fontsize=11)
    for ax in axes[::ncols]:
        ax.set_ylabel("fraction of counts", fontsize=11)
        ax.set_yticks([1e-6, 1e-4, 1e-2, 1])
    fig.tight_layout()
    return fig


@styled
def instrument_overview(instrument, axis, plaster: np.ndarray) -> plt.Figure:
    """Tube spectrum, detector efficiency and the bare plaster's spectrum: the model's ingredients."""
    from ..palette import physics

    e0, n0 = physics.tube_spectrum(instrument)
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 3.4))
    a.semilogy(e0, n0, ".", ms=2, color="0.3")
    a.set(title=f"{instrument.anode} tube at {instrument.tube_kv:g} kV (after {instrument.tube_be_um:g} µm Be)",
          xlabel="energy (keV)", ylabel="photon fraction")
    e = axis.centres
    b.plot(e, physics.detector_efficiency(e, instrument), color="C0", label="absorbed in Si")
    b.plot(e, physics.escape_fraction(e), color="C3", label="Si escape probability")
    b.set(title="Si drift detector", xlabel="energy (keV)", ylim=(0, 1.02))
    b.legend(fontsize=8)
    c.semilogy(e, plaster, color="0.4")
    c.set(title="bare lime plaster (Ca, Sr, Fe, K; Ar from air)", xlabel="energy (keV)",
          ylabel="fraction of counts")
    fig.tight_layout()
    return fig


@styled
def reconstructions(energy: np.ndarray, observed: np.ndarray, reconstructed: np.ndarray,
                    titles: list[str]) -> plt.Figure:
    """Observed spectra (normalised counts) against their reconstructions, log scale."""
    n = len(observed)
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.0), sharey=True)
    for ax, obs, rec, title in zip(np.atleast_1d(axes), observed, reconstructed, titles):
        ax.semilogy(energy, np.where(obs > 0, obs / obs.sum(), np.nan), ".", ms=3, color="0.5", label="observed")
        ax.semilogy(energy, rec, color="C3", lw=1, label="reconstruction")
        ax.set(title=title, xlabel="energy (keV)", ylim=(1e-5, 0.3))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
