"""Diagrams drawn with boxes and arrows: the pipeline and the two networks' architectures."""

from __future__ import annotations


import matplotlib.pyplot as plt

from .page import MAX_WIDTH_IN, styled


def _box(ax, x: float, y: float, text: str, colour: str = "#eef3fb") -> None:
    ax.text(x, y, text, ha="center", va="center", fontsize=12,
            bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="#3a6ea5"))


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], colour: str = "#3a6ea5", **style) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color=colour, **style))


@styled
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


@styled
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


@styled
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
