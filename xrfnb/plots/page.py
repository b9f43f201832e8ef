"""The book's figure page: its style, sizes and legibility checks, and saving a figure for the book."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np

from ..io import atomic_path


#: The book's text column (inches at 96 CSS px per inch): a wider figure is shown scaled down to it.
PAGE_WIDTH_IN = 7.5
PAGE_WIDTH_PX = round(PAGE_WIDTH_IN * 96)

#: The resolution figures are saved at: an 11-inch figure is 1,210 px, sharp on a high-density screen.
DPI = 110

#: The smallest text a reader should meet on the page, in points at the rendered size.
MIN_POINTS = 8.0

#: Figures are drawn at most this wide, so that their text is not scaled down too far.
MAX_WIDTH_IN = 11.0

#: A figure drawn this wide (inches) with text of MIN_POINTS is legible on a phone too: a 390 px phone shrinks
#: a wider figure to its column, at least 327 px (`tests/test_browser.py`, PHONE_COLUMN_PX), so that the
#: figure's 8-point text is about 7.2 px high there, above the browser test's 7 (`tests/reader_checks.js`,
#: figureText). A wider figure needs its text larger in proportion (`phone_points`).
PHONE_WIDTH_IN = 5.0


def phone_points(width_in: float) -> float:
    """The smallest text (points) a figure `width_in` wide needs to be legible on a phone (PHONE_WIDTH_IN)."""
    return MIN_POINTS * max(1.0, width_in / PHONE_WIDTH_IN)


def wrap_to(text: str, width_in: float, points: float) -> str:
    """`text` broken into lines that fit `width_in` inches at `points` (an average character is 0.6 em),
    e.g. a title over a narrow panel; its own line breaks are kept."""
    import textwrap

    chars = max(4, int(width_in * 72 / (0.6 * points)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


#: The book's type sizes, in force while a figure function draws (`styled`), never set for the whole session.
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10}


def style() -> contextlib.AbstractContextManager:
    """A context in which matplotlib uses the book's STYLE; the settings before it come back after it.

    Importing a module of figures thus changes neither the kernel's backend nor its other figures.
    Figures are made (`styled`) and drawn (`save`) inside it: matplotlib sizes a figure's texts when it
    makes them, but places the ticks (how many fit) when it draws.
    """
    return plt.rc_context(STYLE)


def styled(draw: Callable[..., plt.Figure]) -> Callable[..., plt.Figure]:
    """Make a figure function draw its figure inside `style()`."""
    @functools.wraps(draw)
    def drawn_in_style(*args, **kwargs) -> plt.Figure:
        with style():
            return draw(*args, **kwargs)
    return drawn_in_style


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


def _axis_texts_not_drawn(fig: plt.Figure) -> set[int]:
    """The ids of the tick labels, axis labels and offsets of axes turned off (`ax.axis("off")`): they
    exist and are visible to matplotlib, but are never drawn."""
    hidden = set()
    for ax in fig.axes:
        if ax.axison:
            continue
        for axis in (ax.xaxis, ax.yaxis, *([ax.zaxis] if hasattr(ax, "zaxis") else [])):
            hidden |= {id(t) for t in axis.get_ticklabels(which="both")}
            hidden |= {id(axis.label), id(axis.get_offset_text())}
    return hidden


def min_points(fig: plt.Figure) -> float:
    """The smallest drawn text of `fig`, in points at the figure's own size."""
    hidden = _axis_texts_not_drawn(fig)
    sizes = [t.get_fontsize() for t in fig.findobj(plt.Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden]
    return min(sizes, default=MIN_POINTS)


def rendered_min_points(fig: plt.Figure) -> float:
    """The smallest visible text of `fig`, in points at the size the book shows it."""
    return min_points(fig) * min(1.0, PAGE_WIDTH_IN / fig.get_size_inches()[0])


#: The PNG text keys under which `save` records the height of the figure's smallest text, in the image's
#: own pixels, and the figure's name (its file's stem): the book's browser test (`tests/reader_checks.js`,
#: figureText) scales the height to the width the page shows the image at.
TEXT_PX_KEY, NAME_KEY = "xrfnb-min-text-px", "xrfnb-figure"


def text_px(path: str | Path) -> float | None:
    """The smallest text's height in pixels of a PNG `save` wrote, or None for any other image."""
    value = figure_record(path).get(TEXT_PX_KEY)
    return float(value) if value is not None else None


def figure_record(path: str | Path) -> dict[str, str]:
    """What `save` recorded in a PNG (TEXT_PX_KEY, NAME_KEY); {} for any other image."""
    from PIL import Image

    with Image.open(path) as im:
        text = getattr(im, "text", {}) or {}
    return {k: text[k] for k in (TEXT_PX_KEY, NAME_KEY) if k in text}


#: A colour-mapped image whose values are all equal must say so in its axes' title or text with this word.
CONSTANT_NOTE = "constant"

#: A saved figure larger than this (photographs, mostly) is stored with an adaptive 256-colour palette.
MAX_PNG_BYTES = 256 << 10


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

    A figure over MAX_PNG_BYTES is stored with a 256-colour palette, and if still over, drawn again at the
    page's width (`PAGE_WIDTH_PX`): the book shows it at that size anyway, and its text was sized for it.
    Refuses a constant map without a note (`unannotated_constant_maps`). In a notebook with `show`, the
    saved file itself is displayed, so the page shows exactly the PNG written (and nothing twice).
    """
    path = Path(path)
    blank = unannotated_constant_maps(fig)
    if blank:
        plt.close(fig)
        raise ValueError(f"{path.name}: constant map(s) drawn without a note: {', '.join(blank)}")
    with atomic_path(path) as tmp, style():
        legible(fig).savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
        dpi = DPI
        if tmp.stat().st_size > MAX_PNG_BYTES:
            _to_palette(tmp)
        if tmp.stat().st_size > MAX_PNG_BYTES:
            dpi = _at_page_width(fig, tmp)
        _record_text_px(tmp, min_points(fig) * dpi / 72, path.stem)
        plt.close(fig)
    if show and _in_notebook():
        from IPython.display import Image, display

        display(Image(filename=str(path)))
    return path


def _at_page_width(fig: plt.Figure, path: Path) -> float:
    """Draw `fig` again into `path` at PAGE_WIDTH_PX wide (if it is wider), with a 256-colour palette;
    return the resolution it is stored at."""
    from PIL import Image

    with Image.open(path) as im:
        width = im.width
    if width <= PAGE_WIDTH_PX:
        return DPI
    dpi = DPI * PAGE_WIDTH_PX / width
    fig.savefig(path, dpi=dpi, bbox_inches="tight", format="png")
    _to_palette(path)
    return dpi


def _record_text_px(path: Path, px: float, name: str) -> None:
    """Store the smallest text's height in pixels and the figure's name in the PNG, keeping its pixels."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(TEXT_PX_KEY, f"{px:.2f}")
    info.add_text(NAME_KEY, name)
    with Image.open(path) as im:
        im.load()
        im.save(path, format="PNG", pnginfo=info, optimize=im.mode == "P")


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (papermill's included), where figures are shown on the page."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
