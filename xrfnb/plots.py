"""Figures shared by the notebooks; each returns a matplotlib Figure and can save it for the book."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def save(fig: plt.Figure, path: str | Path) -> Path:
    """Save a figure as PNG for the book (numbered figures are included from these files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


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


def spectra_grid(energy: np.ndarray, spectra: np.ndarray, names: list[str], rgb: np.ndarray,
                 labels: list[list[tuple[str, float]]] | None = None, ncols: int = 3,
                 max_labels: int = 6) -> plt.Figure:
    """One log-scale spectrum per panel, drawn in the pigment's colour, with its main lines labelled."""
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 2.6 * nrows), sharex=True, sharey=True)
    axes = np.atleast_1d(axes).ravel()
    floor = spectra[spectra > 0].min()
    for i, (ax, name, s, c) in enumerate(zip(axes, names, spectra, rgb)):
        colour = np.asarray(c) / 255 * 0.85  # darken so that white pigments stay visible
        ax.semilogy(energy, s, color=colour, lw=1)
        ax.set_title(name, fontsize=10)
        ax.set_ylim(floor, 1)
        for label, e in (labels[i] if labels else [])[:max_labels]:
            j = int(np.argmin(np.abs(energy - e)))
            ax.annotate(label, (energy[j], s[j]), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=7, rotation=90)
    for ax in axes[len(names):]:
        ax.axis("off")
    for ax in axes[-ncols:]:
        ax.set_xlabel("energy (keV)")
    for ax in axes[::ncols]:
        ax.set_ylabel("fraction of counts")
    fig.tight_layout()
    return fig


def instrument_overview(instrument, axis, plaster: np.ndarray) -> plt.Figure:
    """Tube spectrum, detector efficiency and the bare plaster's spectrum: the model's ingredients."""
    from . import physics

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
