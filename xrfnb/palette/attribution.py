"""Chapter 1's worked example of a palette of your own: a synthetic cube with copper pigments in it,
attributed pixel by pixel under the palette that made it and under the paper's, which has no copper.

The scene is drawn from the pigments' own colours (a ground of one pigment, two squares of two others),
turned into a datacube by the generator of chapter 3 (`synth.synthesize`, the paper's method) with the
palette that has the copper pigments, and unmixed with each palette by non-negative least squares
(`explain.unmix`, what `xrfnb recolour` reports). The copper region is where the generator put a copper
pigment first. A palette that explains it gives copper pigments the share of the region's counts the
generator drew from them and leaves no Cu K counts over; one without copper cannot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..scans import explain
from . import physics
from ..synthetic import synth
from .pigments import Palette
from ..plots import PHONE_WIDTH_IN, styled, wrap_to
from ..synthetic.synth import Synthesis

#: A pigment counts as a copper pigment when copper is at least this mass fraction of it.
COPPER_FRACTION = 0.1


def copper_pigments(palette: Palette) -> np.ndarray:
    """Which of the palette's pigments are copper pigments (by composition)."""
    return np.array([bool(c) and physics.parse_composition(c).get("Cu", 0.0) >= COPPER_FRACTION
                     for c in palette.compositions])


def scene(palette: Palette, ground: str, squares: tuple[str, ...], size: int = 48) -> np.ndarray:
    """An RGB image (size x size x 3, uint8) in the pigments' own colours: `ground` everywhere, and one
    square per pigment of `squares` side by side in the middle."""
    index = {name: i for i, name in enumerate(palette.names)}
    image = np.empty((size, size, 3), np.uint8)
    image[:] = palette.rgb[index[ground]]
    n = len(squares)
    side = size // (n + 1)
    gap = (size - n * side) // (n + 1)
    top = (size - side) // 2
    for k, name in enumerate(squares):
        left = gap + k * (side + gap)
        image[top:top + side, left:left + side] = palette.rgb[index[name]]
    return image


def copper_region(synthesis: Synthesis, palette: Palette) -> np.ndarray:
    """(H, W) where the generator gave a copper pigment the largest weight of the pixel's cluster."""
    first = synthesis.weights.argmax(1)
    return copper_pigments(palette)[first][synthesis.labels]


def true_copper_share(synthesis: Synthesis, palette: Palette, region: np.ndarray) -> float:
    """The share of the region's counts the generator drew from copper pigments (its mixture weights)."""
    shares = synthesis.weights / synthesis.weights.sum(1, keepdims=True)
    return float(shares[:, copper_pigments(palette)].sum(1)[synthesis.labels][region].mean())


def attribute(cube: np.ndarray, region: np.ndarray, palette: Palette, label: str) -> dict:
    """How one palette explains the copper region of a cube, fitted pixel by pixel: the share of the
    region's fitted counts given to copper pigments, the pigment most often the largest, the relative
    residual of the region's sum spectrum, and the share of its Cu K alpha counts left unexplained."""
    usable = np.ones(cube.shape[-1], bool)
    weights = explain.unmix(cube.astype(float), palette, usable)[region]
    best = explain.dominant(weights)
    observed = cube[region].astype(float).sum(0)
    fitted = weights.sum(0) @ palette.spectra
    window = np.abs(palette.energy - physics.line_energy("Cu", "KL3")) <= 0.15
    names, shares = np.unique(best, return_counts=True)
    top = names[shares.argmax()]
    cu = observed[window].sum()
    return {"palette": label, "pigments": len(palette),
            "copper share of the fit": float(weights[:, copper_pigments(palette)].sum() / weights.sum()),
            "most often the largest": palette.names[top] if top >= 0 else "none",
            "relative residual": float(np.linalg.norm(observed - fitted) / np.linalg.norm(observed)),
            "Cu K alpha counts unexplained": float(np.clip((cu - fitted[window].sum()) / cu, 0, 1)) if cu > 0 else 0.0}


def worked_example(with_copper: Palette, without: Palette, seed: int = 0, counts: int = 400,
                   ground: str = "Red Ochre", squares: tuple[str, ...] = ("Malachite", "Azurite"),
                   size: int = 48) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, float]:
    """The scene, its datacube synthesised with `with_copper`, one row per palette of how each explains it, and the
    share of the copper region's counts the generator drew from copper pigments (what a fit should find)."""
    image = scene(with_copper, ground, squares, size)
    synthesis = synth.synthesize(image, with_copper, seed=seed, counts=counts, n_start=len(squares) + 1, delta=1)
    cube = synthesis.cube()
    region = copper_region(synthesis, with_copper)
    rows = [attribute(cube, region, p, label) for p, label in ((with_copper, with_copper.source or "own"),
                                                               (without, without.source or "paper"))]
    return image, cube, pd.DataFrame(rows), true_copper_share(synthesis, with_copper, region)


@styled
def figure(image: np.ndarray, cube: np.ndarray, palettes: dict[str, Palette]):
    """The scene above each palette's pigment map (each pixel in the colour of its largest NNLS weight),
    one row each with the map's most frequent pigments beside it: narrow enough for a phone."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch


    rows = 1 + len(palettes)
    fig = plt.figure(figsize=(PHONE_WIDTH_IN, 2.3 * rows))
    grid = fig.add_gridspec(rows, 2)
    scene = fig.add_subplot(grid[0, :])  # centred over the maps
    scene.imshow(image, interpolation="nearest")
    scene.set_title("the scene (pigments' own colours)", fontsize=10)
    axes = [(fig.add_subplot(grid[r, 0]), fig.add_subplot(grid[r, 1])) for r in range(1, rows)]
    usable = np.ones(cube.shape[-1], bool)
    for (ax, side), (label, palette) in zip(axes, palettes.items()):
        best = explain.dominant(explain.unmix(cube.astype(float), palette, usable))
        colours = np.vstack([palette.rgb / 255.0, np.ones((1, 3))])
        ax.imshow(colours[best], interpolation="nearest")
        ax.set_title(f"largest pigment, {label} palette", fontsize=10)
        shares = sorted(((float((best == k).mean()), k) for k in range(len(palette))), reverse=True)[:4]
        side.legend(handles=[Patch(facecolor=colours[k], edgecolor="0.5",
                                   label=wrap_to(f"{palette.names[k]}: {100 * s:.0f} % of pixels", 2.3, 9))
                             for s, k in shares if s > 0], loc="center left", bbox_to_anchor=(0, 0.5),
                    ncol=1, fontsize=9, frameon=False, title="most frequent", title_fontsize=9, alignment="left")
    for ax in fig.axes:
        ax.axis("off")
    fig.tight_layout()
    return fig
