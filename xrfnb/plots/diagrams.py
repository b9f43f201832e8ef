"""Diagrams drawn with boxes and arrows: the pipeline and the two networks' architectures.

Each is drawn for a phone too: narrow (PHONE_WIDTH_IN), or at the page's width with text that a phone's
column still shows legibly (`phone_points`). Arrows join the boxes' edges (matplotlib places them once the
boxes are drawn), so that a box's size, which its text decides, never leaves an arrow inside a box.
"""

from __future__ import annotations


import matplotlib.pyplot as plt

from .page import PAGE_WIDTH_IN, PHONE_WIDTH_IN, phone_points, styled, wrap_to

BLUE, ORANGE = "#3a6ea5", "#c05a2a"


def _box(ax, x: float, y: float, text: str, points: float, colour: str = "#eef3fb") -> plt.Text:
    return ax.text(x, y, text, ha="center", va="center", fontsize=points,
                   bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec=BLUE))


def _join(ax, start: plt.Text, end: plt.Text, leave: tuple[float, float], enter: tuple[float, float],
          colour: str = BLUE, **style) -> None:
    """An arrow from the point `leave` of box `start` to the point `enter` of box `end` (fractions of each
    box: (1, 0.5) is the middle of its right edge)."""
    ax.annotate("", xy=enter, xycoords=end, xytext=leave, textcoords=start,
                arrowprops=dict(arrowstyle="->", color=colour, shrinkA=2, shrinkB=2, **style))


RIGHT, LEFT, TOP, BOTTOM = (1.0, 0.5), (0.0, 0.5), (0.5, 1.0), (0.5, 0.0)


@styled
def pipeline_figure() -> plt.Figure:
    """The paper's pipeline as a schematic on two rows, sized for the page: boxes for the stages, arrows for
    the files between them (palette and seeds make cubes, the DVE embeds them, SmallUViT recolours)."""
    points = phone_points(PAGE_WIDTH_IN)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.0))
    spots = {"palette": (0, 1, "pigment palette\nRGB + XRF spectra"), "seeds": (0, 0, "seed paintings\nWikidata / bundled"),
             "cubes": (1, 0.5, "synthetic MA-XRF\nH x W x 512 counts"), "dve": (2, 1, "DVE\nspectrum → R³"),
             "embedded": (3, 1, "embedded image\n3 x H x W"), "uvit": (3, 0, "SmallUViT\nSPT + LSA U-ViT"),
             "rgb": (2, 0, "RGB image\nvs the paper")}
    box = {name: _box(ax, x, y, text, points) for name, (x, y, text) in spots.items()}
    for start, end, leave, enter in (("palette", "cubes", RIGHT, (0.3, 1.0)), ("seeds", "cubes", RIGHT, (0.3, 0.0)),
                                     ("cubes", "dve", (0.7, 1.0), LEFT), ("dve", "embedded", RIGHT, LEFT),
                                     ("embedded", "uvit", BOTTOM, TOP), ("uvit", "rgb", LEFT, RIGHT)):
        _join(ax, box[start], box[end], leave, enter, lw=1.5)
    ax.set(xlim=(-0.65, 3.65), ylim=(-0.3, 1.3))
    ax.axis("off")
    return fig


def _column(ax, x: float, rows: list[float], texts: list[str], points: float) -> list[plt.Text]:
    """Boxes one above another at `x` (rows: their y), each joined to the next by an arrow."""
    boxes = [_box(ax, x, y, text, points) for y, text in zip(rows, texts)]
    for a, b, ya, yb in zip(boxes, boxes[1:], rows, rows[1:]):
        _join(ax, a, b, BOTTOM if yb < ya else TOP, TOP if yb < ya else BOTTOM)
    return boxes


@styled
def dve_architecture(cfg) -> plt.Figure:
    """The DVE as the paper draws it: the encoder down the left, the latent with its clustering at the
    turn, the decoder back up the right, and the losses; narrow enough for a phone (PHONE_WIDTH_IN)."""
    enc = [f"spectrum\n{cfg.n_channels} ch", *(f"SELU {w}\nα-dropout" for w in cfg.encoder_widths),
           f"μ, log σ²\nR^{cfg.latent_dim}"]
    dec = [*(f"SELU {w}" for w in cfg.decoder_widths), f"softmax\n{cfg.n_channels} ch"]
    points = 9
    depth = max(len(enc), len(dec) + 1)
    fig, ax = plt.subplots(figsize=(PHONE_WIDTH_IN, 0.62 * (depth + 2)))
    left = _column(ax, 0, [depth - 1 - k for k in range(len(enc))], enc, points)
    z = _box(ax, 0.5, -1, f"z\nK = {cfg.n_clusters} clusters", points, colour="#fdf0e6")
    right = _column(ax, 1, list(range(len(dec))), dec, points)  # back up from the bottom row
    _join(ax, left[-1], z, BOTTOM, LEFT)
    _join(ax, z, right[0], RIGHT, BOTTOM)
    ax.text(0.5, -1.55, wrap_to("losses: multinomial reconstruction + beta(e) MMD(z, N(0, I)) + KL + gamma(e) DCN "
                                "clustering", PHONE_WIDTH_IN - 0.4, points), ha="center", va="top", fontsize=points)
    ax.set(xlim=(-0.45, 1.45), ylim=(-2.5, depth - 0.5))
    ax.axis("off")
    return fig


@styled
def smalluvit_architecture(cfg) -> plt.Figure:
    """SmallUViT drawn as the U it is: SPT and the in-blocks down the left, the mid block at the turn, the
    out-blocks back up the right beside the in-block each long skip comes from, then back to an image;
    narrow enough for a phone (PHONE_WIDTH_IN)."""
    side = cfg.image_size // cfg.patch_size
    points = 9
    down = [f"embedded\n{cfg.in_channels} x {cfg.image_size}²", f"SPT\n{side * side} x {cfg.dim}",
            *(f"in block {i + 1}\nLSA + MLP" for i in range(cfg.depth_in))]
    up = [*(f"out block {j + 1}\nLSA + MLP" for j in range(cfg.depth_out)), f"LN, Linear\n{cfg.patch_size}² x 3",
          f"conv 3x3 →\nRGB 3 x {cfg.image_size}²"]
    turn = len(down)  # rows run downwards: the mid block sits one row below the last in-block
    fig, ax = plt.subplots(figsize=(PHONE_WIDTH_IN, 0.62 * (turn + 1) + 0.6))
    # out block j + 1 sits beside in block depth_in - j (as deep in the U), so the long skips run straight across
    rows_up = [turn - 1 - j for j in range(len(up))]
    left = _column(ax, 0, [-k for k in range(turn)], down, points)
    right = _column(ax, 1, [-r for r in rows_up], up, points)
    mid = _box(ax, 0.5, -turn, f"mid block{f' x {cfg.depth_mid}' if cfg.depth_mid > 1 else ''}\nLSA + MLP", points)
    _join(ax, left[-1], mid, BOTTOM, LEFT)
    _join(ax, mid, right[0], RIGHT, BOTTOM)
    if cfg.skip != "none":
        for i in range(min(cfg.depth_in, cfg.depth_out)):
            _join(ax, left[2 + cfg.depth_in - 1 - i], right[i], RIGHT, LEFT, colour=ORANGE, lw=1.5)
        ax.text(0.5, -turn - 0.75, f"orange: long skips ({'x + skip' if cfg.skip == 'add' else 'concat + Linear'})",
                ha="center", va="top", fontsize=points, color=ORANGE)
    ax.set(xlim=(-0.45, 1.45), ylim=(-turn - 1.2, 0.5))
    ax.axis("off")
    return fig
