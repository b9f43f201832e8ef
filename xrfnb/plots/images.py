"""Figures of images: mosaics, maps, the generation of a cube, the latent space, predictions beside targets."""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np

from .page import PAGE_WIDTH_IN, PHONE_WIDTH_IN, styled, CONSTANT_NOTE, phone_points, wrap_to
from .spectra import line_colour, spread_labels


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


def _two_lines(title: str, width_in: float, points: float) -> str:
    """A title wrapped to `width_in` at `points`, shortened (…) to its first two lines."""
    lines = wrap_to(title, width_in, points).split("\n")
    if len(lines) <= 2:
        return "\n".join(lines)
    return lines[0] + "\n" + wrap_to(lines[1] + "…", width_in, points).split("\n")[0].rstrip(" :…") + "…"


@styled
def mosaic(images: list[np.ndarray], titles: list[str], ncols: int | None = None, size: float = 1.8,
           thumb_px: int = 120) -> plt.Figure:
    """A grid of thumbnails: with up to MAX_TITLED images each has its (shortened) title, beyond that its
    number, i.e. its row in the provenance table, so that labels never overlap.

    At most the page's width, its labels sized for a phone (`phone_points`): a page shows the thumbnails
    at the column's width whatever the figure's, so a narrower figure keeps them and enlarges its labels.
    Thumbnails are shrunk to `thumb_px` before drawing, which keeps the PNG small.
    """
    numbered = len(images) > MAX_TITLED
    ncols = min(ncols or (12 if numbered else 4), max(1, len(images)))
    size = min(size, PAGE_WIDTH_IN / ncols)
    points = phone_points(size * ncols)
    nrows = int(np.ceil(len(images) / ncols))
    label_in = (1.4 if numbered else 2.6) * points / 72  # one line of label (a number), or up to two of title
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + label_in) * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (ax, im, title) in enumerate(zip(axes.ravel(), images, titles)):
        ax.imshow(thumbnail(im, thumb_px))
        ax.set_title(str(k) if numbered else _two_lines(title, size, points), fontsize=points, pad=2)
    fig.tight_layout(pad=0.3, h_pad=0.2, w_pad=0.2)
    return fig


@styled
def generation_figure(rgb: np.ndarray, synthesis, cube: np.ndarray, energy: np.ndarray,
                      pigment_names: list[str], lines: list[tuple[str, float]]) -> plt.Figure:
    """The paper's generation figure: RGB, clustered RGB, sum spectrum with lines, pigment weights;
    narrow enough for a phone (PHONE_WIDTH_IN), the panels below the two images across its width."""
    k = len(synthesis.cluster_rgb)
    fig = plt.figure(figsize=(PHONE_WIDTH_IN, 7.0 + 0.22 * k), layout="constrained")
    grid = fig.add_gridspec(3, 2, height_ratios=[2.4, 2.6, 1.6 + 0.22 * k])
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(rgb)
    ax.set_title("RGB", fontsize=10)
    ax.axis("off")
    ax = fig.add_subplot(grid[0, 1])
    ax.imshow(synthesis.clustered_rgb())
    ax.set_title(f"clustered RGB (K = {k})", fontsize=10)
    ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    total = cube.reshape(-1, cube.shape[-1]).sum(0)
    ax.semilogy(energy, np.maximum(total, 0.5), color="k", lw=0.8)
    baseline = np.median(total[total > 0])
    # only the lines that stand out of the continuum, labelled in a row above the curve, spread a text
    # height apart and joined to their peaks (as `spectra_grid` labels them)
    peaks = sorted((e, int(np.argmin(np.abs(energy - e))), label) for label, e in lines)
    peaks = [(e, j, label) for e, j, label in peaks if total[j] > 3 * baseline]
    top = max(float(total.max()), 1.0)
    label_y = top * 8
    gap = (energy[-1] - energy[0]) * 1.6 * 9 / 72 / (PHONE_WIDTH_IN - 1.0)
    for (e, j, label), x in zip(peaks, spread_labels([p[0] for p in peaks], gap)):
        ax.plot([energy[j], energy[j], x], [total[j] * 1.3, label_y * 0.6, label_y], color="0.5", lw=0.5)
        ax.text(x, label_y, label, ha="center", va="bottom", fontsize=9, rotation=90)
    ax.set_ylim(top=label_y * 1e3)
    ax.set_title(wrap_to(f"sum spectrum ({cube.shape[0]} x {cube.shape[1]} pixels, {synthesis.counts} counts each)",
                         PHONE_WIDTH_IN - 0.6, 11), fontsize=11)
    ax.set(xlabel="energy (keV)", ylabel="counts")
    ax = fig.add_subplot(grid[2, :])
    im = ax.imshow(synthesis.weights, aspect="auto", cmap="viridis")
    ax.set_yticks(range(k))
    ax.set_yticklabels([f"cluster {c}" for c in range(k)], fontsize=9)
    ax.tick_params(axis="y", pad=16)  # room for each cluster's colour patch
    for c, colour in enumerate(synthesis.cluster_rgb):
        ax.add_patch(plt.Rectangle((-0.5 - 0.5, c - 0.4), 0.4, 0.8, color=colour, clip_on=False))
    ax.set_xticks(range(len(pigment_names)))
    ax.set_xticklabels(pigment_names, rotation=60, ha="right", rotation_mode="anchor", fontsize=9)
    ax.set_title("per-cluster pigment weights alpha = (101 - dE00) / 101\n(0 where below the threshold)",
                 fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    return fig


@styled
def image_grid(maps: dict[str, np.ndarray], ncols: int = 4, cmap: str = "magma") -> plt.Figure:
    """Element maps (or any named images) side by side, each with its own colour scale.

    A map of one value everywhere (e.g. the counts per pixel of a cube with fixed counts) is drawn on the
    scale 0 to that value, so it shows as the scale's top colour, and its title says it is constant.
    """
    ncols = min(ncols, max(1, len(maps)))
    nrows = int(np.ceil(len(maps) / ncols))
    side = min(3.2, PAGE_WIDTH_IN / ncols)
    points = phone_points(side * ncols)  # titles legible on a phone
    titles, constant = [], []
    for name, m in maps.items():
        m = np.asarray(m)
        constant.append(bool(m.size) and m.min() == m.max())
        titles.append(f"{name}\n" + (wrap_to(f"{CONSTANT_NOTE}: {m.flat[0]:g} in every pixel", side, points)
                                     if constant[-1] else f"{int(m.sum()):,} counts"))
    title_in = (max((t.count("\n") for t in titles), default=0) + 1.8) * 1.2 * points / 72
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, (side + title_in) * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, m, title, flat in zip(axes.ravel(), maps.values(), titles, constant):
        m = np.asarray(m)
        if flat:
            ax.imshow(m, cmap=cmap, vmin=min(0.0, float(m.min())), vmax=max(float(m.max()), 1e-12))
        else:
            ax.imshow(m, cmap=cmap, interpolation="nearest")  # a pixel of the scan is a pixel
        ax.set_title(title, fontsize=points)
    fig.tight_layout(pad=0.3)
    return fig


@styled
def pigment_map(index: np.ndarray, names: tuple[str, ...], rgb: np.ndarray) -> plt.Figure:
    """Each pixel in its dominant pigment's reference colour (index -1: none, white), with a legend of shares."""
    from matplotlib.patches import Patch

    colours = np.vstack([np.asarray(rgb, dtype=float) / 255, np.ones((1, 3))])
    fig, ax = plt.subplots(figsize=(PHONE_WIDTH_IN, 4.6))  # narrow enough for a phone
    ax.imshow(colours[index], interpolation="nearest")  # index -1 picks the last row: white
    ax.axis("off")
    ax.set_title("dominant pigment (non-negative least squares)", fontsize=10)
    shares = [(k, float((index == k).mean())) for k in range(len(names))]
    # below the map, wrapped to the figure's width: a group's name (pigments XRF cannot tell apart) is long
    ax.legend(handles=[Patch(facecolor=colours[k], edgecolor="0.5",
                             label=wrap_to(f"{names[k]} {100 * s:.0f} %", PHONE_WIDTH_IN - 0.8, 9))
                       for k, s in shares if s > 0],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


@styled
def size_and_media(widths: list[int], heights: list[int], media: dict[str, int]) -> plt.Figure:
    """Image sizes (width against height) and how many seeds of each medium, one above the other (narrow
    enough for a phone)."""
    fig, (a, b) = plt.subplots(2, 1, figsize=(PHONE_WIDTH_IN, 3.4 + 0.28 * len(media) + 0.8),
                               height_ratios=(3.4, 0.28 * len(media) + 0.8))
    a.scatter(widths, heights, s=12, color="C0")
    a.set(xlabel="width (px)", ylabel="height (px)", title="seed image sizes")
    names = sorted(media, key=media.get, reverse=True)
    b.barh(names, [media[n] for n in names], color="C1")
    b.invert_yaxis()
    b.set(xlabel="images", title="media")
    fig.tight_layout()
    return fig


@styled
def latent_3d(z: np.ndarray, colour_sets: dict[str, tuple]) -> plt.Figure:
    """3-D scatter of latent codes, one panel per colouring, top to bottom in the dict's order (narrow
    enough for a phone), each with its legend below it.

    Each value is (labels, label names) or (labels, label names, colours): colours (one RGB 0-255 per
    name, e.g. the pigments' own) are darkened where pale (`line_colour`); without them, tab20.
    """
    n = len(colour_sets)
    fig = plt.figure(figsize=(PHONE_WIDTH_IN, 5.2 * n))
    for i, (title, spec) in enumerate(colour_sets.items(), 1):
        labels, names = spec[0], spec[1]
        colours = ([line_colour(c) for c in spec[2]] if len(spec) > 2 and spec[2] is not None else
                   [plt.get_cmap("tab20", max(len(names), 1))(j) for j in range(len(names))])
        ax = fig.add_subplot(n, 1, i, projection="3d")
        ax.set_box_aspect(None, zoom=0.8)  # room for the z label inside the panel
        for j, name in enumerate(names):
            m = labels == j
            if m.any():
                ax.scatter(*z[m].T, s=2, color=colours[j], label=name, depthshade=False)
        ax.set(title=title, xlabel="z1", ylabel="z2", zlabel="z3")
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_major_locator(plt.MaxNLocator(4))
        # below its panel, where the panel below cannot cover it
        ax.legend(fontsize=9, markerscale=4, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 0.04),
                  handletextpad=0.1, columnspacing=0.8, frameon=False)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.97, bottom=0.1, hspace=0.45)
    return fig


@styled
def pairs(left: list[np.ndarray], right: list[np.ndarray], titles: tuple[str, str]) -> plt.Figure:
    """Image pairs, one pair per column (e.g. embedded input above its RGB target); a single pair side by
    side, so that it is drawn at a readable width. At most the page's width, titles sized for a phone
    (`phone_points`) and wrapped to their image's width."""
    n = len(left)
    if n == 1:
        fig, axes = plt.subplots(1, 2, figsize=(PHONE_WIDTH_IN, 3.0), squeeze=False)
        for ax, image, title in zip(axes[0], (left[0], right[0]), titles):
            ax.imshow(image)
            ax.axis("off")
            ax.set_title(wrap_to(title, PHONE_WIDTH_IN / 2, 10), fontsize=10)
        fig.tight_layout()
        return fig
    side = min(2.8, PAGE_WIDTH_IN / n)
    points = phone_points(side * n)
    wrapped = [wrap_to(t, side, points) for t in titles]
    title_in = max(t.count("\n") + 1 for t in wrapped) * 1.3 * points / 72
    fig, axes = plt.subplots(2, n, figsize=(side * n, 2 * (side + title_in)), squeeze=False)
    for j in range(n):
        for row, images in enumerate((left, right)):
            axes[row, j].imshow(images[j])
            axes[row, j].axis("off")
            axes[row, j].set_title(wrapped[row], fontsize=points)
    fig.tight_layout(pad=0.3, h_pad=1.0)
    return fig


def as_unit_rgb(image: np.ndarray) -> np.ndarray:
    """An image as floats in [0, 1] for imshow: uint8 is scaled by 1/255, floats are clipped."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.clip(image, 0, 1)


@styled
def triplets(embedded: list[np.ndarray], preds: list[np.ndarray], targets: list[np.ndarray],
             scores: list[dict[str, float]], labels: list[str]) -> plt.Figure:
    """The paper's test figures: embedded input (false colour) | prediction (MS-SSIM, UIQI) | ground truth.

    The page's width, titles sized for a phone (`phone_points`) and wrapped to their image's width."""
    n = len(preds)
    side = PAGE_WIDTH_IN / 3
    points = phone_points(PAGE_WIDTH_IN)
    fig, axes = plt.subplots(n, 3, figsize=(PAGE_WIDTH_IN, (side + 2.8 * points / 72) * n), squeeze=False)
    for row, (e, p, t, s, label) in enumerate(zip(embedded, preds, targets, scores, labels)):
        for ax, image, title in ((axes[row, 0], e, f"{label}: embedded input"),
                                 (axes[row, 1], p, f"MS-SSIM {s['ms_ssim']:.3f}\nUIQI {s['uiqi']:.3f}"),
                                 (axes[row, 2], t, "ground truth")):
            ax.imshow(as_unit_rgb(image))
            ax.set_title(wrap_to(title, side, points), fontsize=points)
            ax.axis("off")
    fig.tight_layout(pad=0.3)
    return fig


@styled
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
