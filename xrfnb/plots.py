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


def save(fig: plt.Figure, path: str | Path) -> Path:
    """Save a figure as PNG for the book, legible at the page's width (see `legible`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    legible(fig).savefig(path, dpi=110, bbox_inches="tight")
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
                 labels: list[list[tuple[str, float]]] | None = None, ncols: int = 2,
                 max_labels: int = 5, compare: np.ndarray | None = None,
                 legend: tuple[str, str] = ("reference", "fresco")) -> plt.Figure:
    """One log-scale spectrum per panel, drawn in the pigment's colour, with its main lines labelled.

    `compare` (same shape as `spectra`) is drawn beneath each spectrum in grey, e.g. the same pigment
    under another sample model; `legend` names the two.
    """
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 2.5 * nrows), sharex=True, sharey=True)
    axes = np.atleast_1d(axes).ravel()
    floor = max(spectra[spectra > 0].min(), 1e-7)
    for i, (ax, name, s, c) in enumerate(zip(axes, names, spectra, rgb)):
        colour = np.asarray(c) / 255 * 0.85  # darken so that white pigments stay visible
        if compare is not None:
            ax.semilogy(energy, compare[i], color="0.6", lw=0.8, label=legend[1])
        ax.semilogy(energy, s, color=colour, lw=1.1, label=legend[0])
        ax.set_title(name, fontsize=12)
        ax.set_ylim(floor, 1)
        ax.tick_params(labelsize=10)
        for label, e in (labels[i] if labels else [])[:max_labels]:
            j = int(np.argmin(np.abs(energy - e)))
            ax.annotate(label, (energy[j], s[j]), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=9, rotation=90)
    if compare is not None:
        axes[0].legend(fontsize=10, loc="upper right")
    for ax in axes[len(names):]:
        ax.axis("off")
    for ax in axes[-ncols:]:
        ax.set_xlabel("energy (keV)", fontsize=11)
    for ax in axes[::ncols]:
        ax.set_ylabel("fraction of counts", fontsize=11)
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


def mosaic(images: list[np.ndarray], titles: list[str], ncols: int = 8, size: float = 1.8) -> plt.Figure:
    """A grid of thumbnails with short titles."""
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * 1.15 * nrows))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, im, title in zip(np.atleast_1d(axes).ravel(), images, titles):
        ax.imshow(im)
        ax.set_title(title[:22], fontsize=7)
    fig.tight_layout()
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
    """Element maps (or any named images) side by side, each with its own colour scale."""
    nrows = int(np.ceil(len(maps) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, (name, m) in zip(np.atleast_1d(axes).ravel(), maps.items()):
        ax.imshow(m, cmap=cmap)
        ax.set_title(f"{name} ({int(m.sum())} counts)", fontsize=9)
    fig.tight_layout()
    return fig


def pigment_map(index: np.ndarray, names: tuple[str, ...], rgb: np.ndarray) -> plt.Figure:
    """Each pixel in its dominant pigment's reference colour (index -1: none, white), with a legend of shares."""
    from matplotlib.patches import Patch

    colours = np.vstack([np.asarray(rgb, dtype=float) / 255, np.ones((1, 3))])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.imshow(colours[index], interpolation="nearest")  # index -1 picks the last row: white
    ax.axis("off")
    ax.set_title("dominant pigment (non-negative least squares)", fontsize=10)
    shares = [(k, float((index == k).mean())) for k in range(len(names))]
    ax.legend(handles=[Patch(facecolor=colours[k], edgecolor="0.5", label=f"{names[k]} {100 * s:.0f} %")
                       for k, s in shares if s > 0],
              loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9, frameon=False)
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
                    weights_title: str = "loss weights", labels: dict[str, str] | None = None) -> plt.Figure:
    """Per-epoch train and validation curves of each loss term, and a last panel of schedules (`weights`,
    titled `weights_title`: the loss weights of the DVE, the learning rate of SmallUViT). `labels` names
    a column's curve otherwise than by its split (e.g. a metric computed on a sample of the batches)."""
    per_epoch = metrics.groupby("epoch").mean(numeric_only=True)
    panels = len(terms) + (1 if weights else 0)
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.2))
    for ax, term in zip(np.atleast_1d(axes), terms):
        for split, style in (("train", "-"), ("val", "--")):
            col = f"{split}_{term}"
            if col in per_epoch:
                ax.plot(per_epoch.index, per_epoch[col], style, marker=".", label=(labels or {}).get(col, split))
        ax.set(title=term, xlabel="epoch")
        ax.legend(fontsize=8)
    if weights:
        ax = np.atleast_1d(axes)[-1]
        for w in weights:
            ax.plot(per_epoch.index, per_epoch[w], marker=".", label=w)
        ax.set(title=weights_title, xlabel="epoch")
        if weights_title == "learning rate":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
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


def latent_3d(z: np.ndarray, colour_sets: dict[str, tuple[np.ndarray, list[str]]]) -> plt.Figure:
    """3-D scatter of latent codes, one panel per colouring {title: (labels, label names)}."""
    fig = plt.figure(figsize=(5.5 * len(colour_sets), 6.5))
    for i, (title, (labels, names)) in enumerate(colour_sets.items(), 1):
        ax = fig.add_subplot(1, len(colour_sets), i, projection="3d")
        ax.set_box_aspect(None, zoom=0.85)  # room for the z label inside the panel
        cmap = plt.get_cmap("tab20", max(len(names), 1))
        for j, name in enumerate(names):
            m = labels == j
            if m.any():
                ax.scatter(*z[m].T, s=2, color=cmap(j), label=name, depthshade=False)
        ax.set(title=title, xlabel="z1", ylabel="z2", zlabel="z3")
        # below its panel, where the neighbouring 3-D panel cannot cover it
        ax.legend(fontsize=8, markerscale=4, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 0.02))
    return fig


def pairs(left: list[np.ndarray], right: list[np.ndarray], titles: tuple[str, str]) -> plt.Figure:
    """Image pairs side by side, one pair per column (e.g. embedded input and RGB target)."""
    n = len(left)
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


def pipeline_figure() -> plt.Figure:
    """The paper's pipeline as a schematic: boxes for the stages, arrows for the files between them."""
    stages = [("pigment palette\nRGB + XRF spectra", 0.0, 1.0), ("seed paintings\nWikidata / bundled", 0.0, 0.0),
              ("synthetic MA-XRF\nH x W x 512 counts", 1.0, 0.5), ("DVE\nspectrum -> R^3", 2.0, 0.5),
              ("embedded image\n3 x H x W", 3.0, 0.5), ("SmallUViT\nSPT + LSA U-ViT", 4.0, 0.5),
              ("RGB image\nvs the paper", 5.0, 0.5)]
    fig, ax = plt.subplots(figsize=(13, 2.8))
    boxes = {}
    for label, x, y in stages:
        ax.text(x, y, label, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.5", fc="#eef3fb", ec="#3a6ea5"))
        boxes[label.split("\n")[0]] = (x, y)
    arrows = [("pigment palette", "synthetic MA-XRF"), ("seed paintings", "synthetic MA-XRF"),
              ("synthetic MA-XRF", "DVE"), ("DVE", "embedded image"), ("embedded image", "SmallUViT"),
              ("SmallUViT", "RGB image")]
    for a, b in arrows:
        (x0, y0), (x1, y1) = boxes[a], boxes[b]
        ax.annotate("", xy=(x1 - 0.42, y1), xytext=(x0 + 0.42, y0),
                    arrowprops=dict(arrowstyle="->", color="#3a6ea5", lw=1.5))
    ax.set(xlim=(-0.6, 5.6), ylim=(-0.5, 1.5))
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
    """SmallUViT: SPT, 3 in-blocks, 1 mid, 3 out-blocks with long skips, then back to an image."""
    side = cfg.image_size // cfg.patch_size
    layers = [("embedded", f"3 x {cfg.image_size}²"), ("SPT", f"{side * side} x {cfg.dim}"),
              *((f"in block {i + 1}", "LSA + MLP") for i in range(cfg.depth_in)),
              *(("mid block", "LSA + MLP") for _ in range(cfg.depth_mid)),
              *((f"out block {i + 1}", "LSA + MLP") for i in range(cfg.depth_out)),
              ("LN, Linear", f"{cfg.patch_size}² x 3"), ("rearrange", "conv 3x3"), ("RGB", f"3 x {cfg.image_size}²")]
    fig, ax = plt.subplots(figsize=(15, 2.8))
    xs = _layer_boxes(ax, layers)
    first_in, first_out = 2, 2 + cfg.depth_in + cfg.depth_mid
    if cfg.skip != "none":
        for i in range(cfg.depth_in):
            a, b = xs[first_in + i], xs[first_out + cfg.depth_out - 1 - i]
            ax.annotate("", xy=(b, 0.32), xytext=(a, 0.32),
                        arrowprops=dict(arrowstyle="->", color="#c05a2a", connectionstyle="arc3,rad=-0.25"))
        ax.text((xs[first_in] + xs[first_out + cfg.depth_out - 1]) / 2, 1.05,
                f"long skips ({'x + skip' if cfg.skip == 'add' else 'concat + Linear'})", ha="center",
                fontsize=9, color="#c05a2a")
    ax.set(xlim=(-0.6, len(xs) - 0.4), ylim=(-0.5, 1.25))
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
