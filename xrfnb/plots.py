"""Figures shared by the notebooks; each returns a matplotlib Figure and can save it for the book."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    import pandas as pd


#: The book's text column (inches at 96 CSS px per inch): a wider figure is shown scaled down to it.
PAGE_WIDTH_IN = 7.5
#: The smallest text a reader should meet on the page, in points at the rendered size.
MIN_POINTS = 8.0
#: Figures are drawn at most this wide, so that their text is not scaled down too far.
MAX_WIDTH_IN = 11.0

plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10})


def legible(fig: plt.Figure) -> plt.Figure:
    """Make every text of `fig` at least MIN_POINTS when the book shows it at the page's width.

    A figure wider than MAX_WIDTH_IN is narrowed to it; then any text that the page's scaling would
    shrink below MIN_POINTS is enlarged to the size that keeps it legible.
    """
    width, height = fig.get_size_inches()
    if width > MAX_WIDTH_IN:
        fig.set_size_inches(MAX_WIDTH_IN, height * MAX_WIDTH_IN / width)
        width = MAX_WIDTH_IN
    needed = MIN_POINTS * max(1.0, width / PAGE_WIDTH_IN)
    fig.canvas.draw()  # tick labels exist only once drawn
    for ax in fig.axes:
        for axis, which in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            labels = [t for t in axis.get_ticklabels(which="both") if t.get_text().strip()]
            if labels and min(t.get_fontsize() for t in labels) < needed:
                ax.tick_params(axis=which, which="both", labelsize=needed)
    for text in fig.findobj(plt.Text):
        if text.get_text().strip() and text.get_fontsize() < needed:
            text.set_fontsize(needed)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    return fig


def rendered_min_points(fig: plt.Figure) -> float:
    """The smallest visible text of `fig`, in points at the size the book shows it."""
    scale = min(1.0, PAGE_WIDTH_IN / fig.get_size_inches()[0])
    sizes = [t.get_fontsize() for t in fig.findobj(plt.Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=MIN_POINTS) * scale


#: A colour-mapped image whose values are all equal must say so in its axes' title or text with this word.
CONSTANT_NOTE = "constant"


#: A saved figure larger than this (photographs, mostly) is stored with an adaptive 256-colour palette.
MAX_PNG_BYTES = 1 << 20


def _to_palette(path: Path) -> None:
    """Re-store a PNG with 256 adaptive colours (dithered): a page of thumbnails shrinks about threefold."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    small.save(path, optimize=True)


def unannotated_constant_maps(fig: plt.Figure) -> list[str]:
    """Titles of the axes that draw a colour-mapped image of one value without saying so.

    A constant map drawn with its own colour scale shows as one flat colour (black in magma), which a
    reader takes for an empty map; it needs a note (a title or text containing CONSTANT_NOTE) with its value.
    """
    found = []
    for ax in fig.axes:
        for image in ax.get_images():
            values = np.ma.masked_invalid(np.ma.asarray(image.get_array(), dtype=float))
            if values.ndim != 2 or values.count() == 0 or values.max() != values.min():
                continue
            texts = [ax.get_title(loc) for loc in ("left", "center", "right")] + [t.get_text() for t in ax.texts]
            if not any(CONSTANT_NOTE in t.lower() for t in texts):
                found.append(ax.get_title() or "(untitled axes)")
    return found


def save(fig: plt.Figure, path: str | Path, show: bool = True) -> Path:
    """Save a figure as PNG for the book, legible at the page's width (see `legible`), and close it.

    Refuses a constant map without a note (`unannotated_constant_maps`). In a notebook with `show`, the
    saved file itself is displayed, so the page shows exactly the PNG written (and nothing twice).
    """
    path = Path(path)
    blank = unannotated_constant_maps(fig)
    if blank:
        plt.close(fig)
        raise ValueError(f"{path.name}: constant map(s) drawn without a note: {', '.join(blank)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    legible(fig).savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    if path.stat().st_size > MAX_PNG_BYTES:
        _to_palette(path)
    if show and _in_notebook():
        from IPython.display import Image, display

        display(Image(filename=str(path)))
    return path


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (papermill's included), where figures are shown on the page."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


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


#: A mosaic with more images than this labels them by number (their row in the provenance table), not title.
MAX_TITLED = 24


def thumbnail(image: np.ndarray, side: int) -> np.ndarray:
    """An image shrunk so that its long side is at most `side` px (a thumbnail drawn small needs no more)."""
    from PIL import Image

    image = np.asarray(image)
    if max(image.shape[:2]) <= side:
        return image
    if image.dtype != np.uint8:
        image = (as_unit_rgb(image) * 255).round().astype(np.uint8)
    im = Image.fromarray(image)
    im.thumbnail((side, side))
    return np.asarray(im)


def mosaic(images: list[np.ndarray], titles: list[str], ncols: int | None = None, size: float = 1.8,
           thumb_px: int = 120) -> plt.Figure:
    """A grid of thumbnails: with up to MAX_TITLED images each has its (shortened) title, beyond that its
    number, i.e. its row in the provenance table, so that labels never overlap.

    Thumbnails are shrunk to `thumb_px` before drawing, which keeps the PNG small.
    """
    numbered = len(images) > MAX_TITLED
    ncols = ncols or (12 if numbered else 6)
    size = min(size, MAX_WIDTH_IN / ncols)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * (1.12 if numbered else 1.25) * nrows))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for k, (ax, im, title) in enumerate(zip(np.atleast_1d(axes).ravel(), images, titles)):
        ax.imshow(thumbnail(im, thumb_px))
        fits = int(size * 14)  # characters of 8-pt text across one thumbnail
        label = str(k) if numbered else (title if len(title) <= fits else title[:fits - 1].rstrip(" :") + "…")
        ax.set_title(label, fontsize=8, pad=2)
    fig.tight_layout(pad=0.3, h_pad=0.2, w_pad=0.2)
    return fig


def generation_figure(rgb: np.ndarray, synthesis, cube: np.ndarray, energy: np.ndarray,
                      pigment_names: list[str], lines: list[tuple[str, float]]) -> plt.Figure:
    """The paper's generation figure: RGB, clustered RGB, sum spectrum with lines, pigment weights."""
    fig = plt.figure(figsize=(11, 10))
    grid = fig.add_gridspec(3, 4, height_ratios=[1, 1, 1.1])
    ax = fig.add_subplot(grid[0, :2])
    ax.imshow(rgb)
    ax.set_title("RGB")
    ax.axis("off")
    ax = fig.add_subplot(grid[0, 2:])
    ax.imshow(synthesis.clustered_rgb())
    ax.set_title(f"clustered RGB (K = {len(synthesis.cluster_rgb)})")
    ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    total = cube.reshape(-1, cube.shape[-1]).sum(0)
    ax.semilogy(energy, np.maximum(total, 0.5), color="k", lw=0.8)
    baseline = np.median(total[total > 0])
    for label, e in lines:
        j = int(np.argmin(np.abs(energy - e)))
        if total[j] > 3 * baseline:  # label only the lines that stand out of the continuum
            ax.annotate(label, (energy[j], total[j]), xytext=(0, 4), textcoords="offset points", ha="center",
                        fontsize=10, rotation=90)
    ax.set_ylim(top=total.max() * 30)
    ax.set(title=f"sum spectrum ({cube.shape[0]} x {cube.shape[1]} pixels, {synthesis.counts} counts each)",
           xlabel="energy (keV)", ylabel="counts")
    ax = fig.add_subplot(grid[2, :])
    im = ax.imshow(synthesis.weights, aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(synthesis.cluster_rgb)))
    ax.set_yticklabels([f"cluster {k}" for k in range(len(synthesis.cluster_rgb))], fontsize=10)
    ax.tick_params(axis="y", pad=28)  # room for each cluster's colour patch
    for k, c in enumerate(synthesis.cluster_rgb):
        ax.add_patch(plt.Rectangle((-1.05, k - 0.4), 0.45, 0.8, color=c, clip_on=False))
    ax.set_xticks(range(len(pigment_names)))
    ax.set_xticklabels(pigment_names, rotation=30, ha="right", fontsize=8)
    ax.set_title("per-cluster pigment weights alpha = (101 - dE00) / 101 (0 where below the threshold)")
    fig.colorbar(im, ax=ax, fraction=0.02)
    fig.tight_layout()
    return fig


def image_grid(maps: dict[str, np.ndarray], ncols: int = 4, cmap: str = "magma") -> plt.Figure:
    """Element maps (or any named images) side by side, each with its own colour scale.

    A map of one value everywhere (e.g. the counts per pixel of a cube with fixed counts) is drawn on the
    scale 0 to that value, so it shows as the scale's top colour, and its title says it is constant.
    """
    nrows = int(np.ceil(len(maps) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, (name, m) in zip(np.atleast_1d(axes).ravel(), maps.items()):
        m = np.asarray(m)
        if m.size and m.min() == m.max():
            ax.imshow(m, cmap=cmap, vmin=min(0.0, float(m.min())), vmax=max(float(m.max()), 1e-12))
            ax.set_title(f"{name}\n{CONSTANT_NOTE}: {m.flat[0]:g} in every pixel", fontsize=9)
        else:
            ax.imshow(m, cmap=cmap)
            ax.set_title(f"{name}\n{int(m.sum())} counts in all", fontsize=9)
    fig.tight_layout()
    return fig


def pigment_map(index: np.ndarray, names: tuple[str, ...], rgb: np.ndarray) -> plt.Figure:
    """Each pixel in its dominant pigment's reference colour (index -1: none, white), with a legend of shares."""
    from matplotlib.patches import Patch

    colours = np.vstack([np.asarray(rgb, dtype=float) / 255, np.ones((1, 3))])
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(colours[index], interpolation="nearest")  # index -1 picks the last row: white
    ax.axis("off")
    ax.set_title("dominant pigment (non-negative least squares)", fontsize=10)
    shares = [(k, float((index == k).mean())) for k in range(len(names))]
    # below the map: a group's name (pigments XRF cannot tell apart) is long
    ax.legend(handles=[Patch(facecolor=colours[k], edgecolor="0.5", label=f"{names[k]} {100 * s:.0f} %")
                       for k, s in shares if s > 0],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def size_and_media(widths: list[int], heights: list[int], media: dict[str, int]) -> plt.Figure:
    """Image sizes (width against height) and how many seeds of each medium."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8))
    a.scatter(widths, heights, s=12, color="C0")
    a.set(xlabel="width (px)", ylabel="height (px)", title="seed image sizes")
    names = sorted(media, key=media.get, reverse=True)
    b.barh(names, [media[n] for n in names], color="C1")
    b.invert_yaxis()
    b.set(xlabel="images", title="media")
    fig.tight_layout()
    return fig


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


def latent_3d(z: np.ndarray, colour_sets: dict[str, tuple]) -> plt.Figure:
    """3-D scatter of latent codes, one panel per colouring, left to right in the dict's order.

    Each value is (labels, label names) or (labels, label names, colours): colours (one RGB 0-255 per
    name, e.g. the pigments' own) are darkened where pale (`line_colour`); without them, tab20.
    """
    fig = plt.figure(figsize=(5.5 * len(colour_sets), 6.5))
    for i, (title, spec) in enumerate(colour_sets.items(), 1):
        labels, names = spec[0], spec[1]
        colours = ([line_colour(c) for c in spec[2]] if len(spec) > 2 and spec[2] is not None else
                   [plt.get_cmap("tab20", max(len(names), 1))(j) for j in range(len(names))])
        ax = fig.add_subplot(1, len(colour_sets), i, projection="3d")
        ax.set_box_aspect(None, zoom=0.85)  # room for the z label inside the panel
        for j, name in enumerate(names):
            m = labels == j
            if m.any():
                ax.scatter(*z[m].T, s=2, color=colours[j], label=name, depthshade=False)
        ax.set(title=title, xlabel="z1", ylabel="z2", zlabel="z3")
        # below its panel, where the neighbouring 3-D panel cannot cover it
        ax.legend(fontsize=8, markerscale=4, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 0.02))
    return fig


def pairs(left: list[np.ndarray], right: list[np.ndarray], titles: tuple[str, str]) -> plt.Figure:
    """Image pairs, one pair per column (e.g. embedded input above its RGB target); a single pair side by
    side, so that it is drawn at a readable width."""
    n = len(left)
    if n == 1:
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.6), squeeze=False)
        for ax, image, title in zip(axes[0], (left[0], right[0]), titles):
            ax.imshow(image)
            ax.axis("off")
            ax.set_title(title, fontsize=10)
        fig.tight_layout()
        return fig
    fig, axes = plt.subplots(2, n, figsize=(2.8 * n, 5.8), squeeze=False)
    for j in range(n):
        for row, images in enumerate((left, right)):
            axes[row, j].imshow(images[j])
            axes[row, j].axis("off")
        axes[0, j].set_title(titles[0], fontsize=9)
        axes[1, j].set_title(titles[1], fontsize=9)
    fig.tight_layout()
    return fig


def as_unit_rgb(image: np.ndarray) -> np.ndarray:
    """An image as floats in [0, 1] for imshow: uint8 is scaled by 1/255, floats are clipped."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.clip(image, 0, 1)


def triplets(embedded: list[np.ndarray], preds: list[np.ndarray], targets: list[np.ndarray],
             scores: list[dict[str, float]], labels: list[str]) -> plt.Figure:
    """The paper's test figures: embedded input (false colour) | prediction (MS-SSIM, UIQI) | ground truth."""
    n = len(preds)
    fig, axes = plt.subplots(n, 3, figsize=(9, 3.1 * n), squeeze=False)
    for row, (e, p, t, s, label) in enumerate(zip(embedded, preds, targets, scores, labels)):
        for ax, image, title in ((axes[row, 0], e, f"{label}: embedded input"),
                                 (axes[row, 1], p, f"MS-SSIM {s['ms_ssim']:.3f}, UIQI {s['uiqi']:.3f}"),
                                 (axes[row, 2], t, "ground truth")):
            ax.imshow(as_unit_rgb(image))
            ax.set_title(title, fontsize=11)
            ax.axis("off")
    fig.tight_layout()
    return fig


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


def _box(ax, x: float, y: float, text: str, colour: str = "#eef3fb") -> None:
    ax.text(x, y, text, ha="center", va="center", fontsize=12,
            bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="#3a6ea5"))


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], colour: str = "#3a6ea5", **style) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color=colour, **style))


def pipeline_figure() -> plt.Figure:
    """The paper's pipeline as a schematic on two rows, sized for the page: boxes for the stages, arrows for
    the files between them (palette and seeds make cubes, the DVE embeds them, SmallUViT recolours)."""
    fig, ax = plt.subplots(figsize=(MAX_WIDTH_IN, 3.4))
    boxes = {"palette": (0, 1, "pigment palette\nRGB + XRF spectra"), "seeds": (0, 0, "seed paintings\nWikidata / bundled"),
             "cubes": (1, 0.5, "synthetic MA-XRF\nH x W x 512 counts"), "dve": (2, 1, "DVE\nspectrum → R³"),
             "embedded": (3, 1, "embedded image\n3 x H x W"), "uvit": (3, 0, "SmallUViT\nSPT + LSA U-ViT"),
             "rgb": (2, 0, "RGB image\nvs the paper")}
    for x, y, text in boxes.values():
        _box(ax, x, y, text)
    for start, end in (((0.5, 0.9), (0.78, 0.64)), ((0.5, 0.1), (0.78, 0.36)),  # palette and seeds into the cubes
                       ((1.5, 0.6), (1.6, 0.95)), ((2.38, 1.0), (2.55, 1.0)), ((3.0, 0.8), (3.0, 0.2)),
                       ((2.55, 0.0), (2.32, 0.0))):
        _arrow(ax, start, end, lw=1.5)
    ax.set(xlim=(-0.6, 3.6), ylim=(-0.35, 1.35))
    ax.axis("off")
    return fig


def _layer_boxes(ax, layers: list[tuple[str, str]], y: float = 0.0, colour: str = "#eef3fb") -> list[float]:
    """Draw labelled boxes left to right joined by arrows; return their x centres."""
    xs = list(range(len(layers)))
    for x, (name, detail) in zip(xs, layers):
        ax.text(x, y, f"{name}\n{detail}", ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="#3a6ea5"))
    for x0, x1 in zip(xs[:-1], xs[1:]):
        ax.annotate("", xy=(x1 - 0.38, y), xytext=(x0 + 0.38, y), arrowprops=dict(arrowstyle="->", color="#3a6ea5"))
    return xs


def dve_architecture(cfg) -> plt.Figure:
    """The DVE as the paper draws it: encoder, latent with its clustering, decoder, and the losses."""
    enc = [("spectrum", f"{cfg.n_channels} ch"), *((f"SELU {w}", "α-dropout") for w in cfg.encoder_widths),
           ("μ, log σ²", f"R^{cfg.latent_dim}"), ("z", f"K = {cfg.n_clusters}")]
    dec = [*((f"SELU {w}", "") for w in cfg.decoder_widths), ("softmax", f"{cfg.n_channels} ch")]
    fig, ax = plt.subplots(figsize=(15, 2.6))
    xs = _layer_boxes(ax, enc + dec)
    ax.text(xs[len(enc) - 1], -0.75, "losses: multinomial reconstruction + beta(e) MMD(z, N(0, I)) + KL "
            "+ gamma(e) DCN clustering", ha="center", fontsize=9)
    ax.set(xlim=(-0.6, len(xs) - 0.4), ylim=(-1.1, 0.6))
    ax.axis("off")
    return fig


def smalluvit_architecture(cfg) -> plt.Figure:
    """SmallUViT drawn as the U it is: SPT and the in-blocks along the top, the mid block at the turn, the
    out-blocks back along the bottom under the in-block each long skip comes from, then back to an image."""
    side = cfg.image_size // cfg.patch_size
    turn = 2 + cfg.depth_in  # the column of the mid block
    fig, ax = plt.subplots(figsize=(MAX_WIDTH_IN, 3.6))
    top = [(0, f"embedded\n3 x {cfg.image_size}²"), (1, f"SPT\n{side * side} x {cfg.dim}"),
           *((2 + i, f"in block {i + 1}\nLSA + MLP") for i in range(cfg.depth_in))]
    bottom = [*((turn - 1 - j, f"out block {j + 1}\nLSA + MLP") for j in range(cfg.depth_out)),
              (turn - 1 - cfg.depth_out, f"LN, Linear\n{cfg.patch_size}² x 3"),
              (turn - 2 - cfg.depth_out, f"conv 3x3 →\nRGB 3 x {cfg.image_size}²")]
    for row, y in ((top, 1.0), (bottom, 0.0)):
        for x, text in row:
            _box(ax, x, y, text)
        for (x0, _), (x1, _) in zip(row[:-1], row[1:]):
            step = 0.36 if x1 > x0 else -0.36
            _arrow(ax, (x0 + step, y), (x1 - step, y))
    _box(ax, turn, 0.5, f"mid block{f' x {cfg.depth_mid}' if cfg.depth_mid > 1 else ''}\nLSA + MLP")
    _arrow(ax, (top[-1][0] + 0.36, 1.0), (turn - 0.1, 0.68))
    _arrow(ax, (turn - 0.1, 0.32), (bottom[0][0] + 0.36, 0.0))
    if cfg.skip != "none":
        for i in range(min(cfg.depth_in, cfg.depth_out)):
            x = 2 + i  # in block i + 1 sits above out block depth_out - i
            _arrow(ax, (x, 0.78), (x, 0.22), colour="#c05a2a", lw=1.5)
        ax.text(2 + (cfg.depth_in - 1) / 2, 0.5, f"long skips ({'x + skip' if cfg.skip == 'add' else 'concat + Linear'})",
                ha="center", va="center", fontsize=11, color="#c05a2a",
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none"))
    ax.set(xlim=(-0.6, turn + 0.6), ylim=(-0.35, 1.35))
    ax.axis("off")
    return fig


def bar(x, heights, xlabel: str, ylabel: str, title: str = "") -> plt.Figure:
    """A plain bar chart with every x labelled (counts of a small integer quantity)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(list(x), list(heights), color="0.35")
    ax.set_xticks(list(x))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.tight_layout()
    return fig


def patch_error_map(grid: dict) -> plt.Figure:
    """The mean redmean error at each position inside a patch (`diagnosis.patch_grid`), border ringed."""
    fig, ax = plt.subplots(figsize=(3.8, 3.2))
    im = ax.imshow(grid["map"], cmap="magma")
    p = grid["patch"]
    ax.add_patch(plt.Rectangle((-0.5, -0.5), p, p, fill=False, edgecolor="#4fc3f7", lw=2))
    ax.add_patch(plt.Rectangle((0.5, 0.5), p - 2, p - 2, fill=False, edgecolor="#4fc3f7", lw=1, ls="--"))
    ax.set(title=f"error by position in the {p} x {p} patch\nborder / interior {grid['ratio']:.2f}",
           xlabel="column in patch", ylabel="row in patch")
    fig.colorbar(im, ax=ax, label="mean redmean distance")
    fig.tight_layout()
    return fig
