"""Prose that reads the same in JupyterLab and in the book: Markdown written by the cell that shows it.

A chapter's Markdown cells may only hold plain Markdown: JupyterLab does not know MyST's roles and would
show `{glue:text}` and `{cite:p}` raw. Prose with numbers or citations is therefore a hidden-input code cell
calling `show(text, glued)`. It fills every `{glue:text}`key:fmt`` with the value the notebook glued
(its `Glued` mapping, made once in its setup cell and passed to each prose cell) or a keyword argument,
and displays one output with two forms:

* `text/markdown`, MyST with the `{cite:p}` roles kept: the book renders it (myst-nb's priority for the
  html builder puts `text/markdown` first), so citations link to the bibliography as before;
* `text/html`, with each citation written out as "(Author et al., year)" from `book/references.bib`:
  what JupyterLab renders (it prefers HTML).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from pathlib import Path

from . import locations

GLUE = re.compile(r"\{glue(?::text)?\}`([^`:]+)(?::([^`]*))?`")
CITE = re.compile(r"\{cite(?::(p|t|ps|ts))?\}`([^`]+)`")


class MissingValue(KeyError):
    """A `{glue:text}` key that nothing glued before this prose cell."""

    def __str__(self) -> str:
        return (f"prose refers to {self.args[0]!r}, which no cell above glued into the values passed "
                f"(run the cells above first, pass the notebook's `glued`, or pass {self.args[0]}=... to prose.show)")


#: The mime-type prefix of an output that holds a glued value without showing it: myst-nb's book build finds
#: the value of `{glue:text}`name`` in the output whose metadata names it (`scrapbook`), as `myst_nb.glue`
#: writes it with `display=False`.
GLUE_PREFIX = "application/papermill.record/"


class Glued(dict):
    """The values a notebook glued, by name: for the book (myst-nb's glue) and for its prose cells.

    A notebook makes one in its setup cell and passes it to the prose cells that read its values, so
    nothing is kept between notebooks or calls outside this object.
    """

    def glue(self, name: str, value: object) -> None:
        """Glue a number or table for the book's prose without showing it here, and keep it for `show`.

        numpy scalars become plain numbers (cross-page `{glue:text}` needs a format spec, e.g. `:.4f`, `:d`).
        The output is the one `myst_nb.glue(name, value, display=False)` writes (a test compares them),
        written here because importing myst-nb's glue imports nbformat and its schema checks, over a second
        of every chapter's kernel start.
        """
        from IPython.core.formatters import format_display_data
        from IPython.display import display

        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            value = value.item()
        bundle, metadata = format_display_data(value)
        metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
        display({GLUE_PREFIX + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata)
        self[name] = value


def fill(text: str, values: Mapping[str, object] | None = None) -> str:
    """`text` with every glue role replaced by its value in `values`, formatted by the role's format spec."""
    known = dict(values or {})

    def value(match: re.Match) -> str:
        key, spec = match.group(1), match.group(2) or ""
        if key not in known:
            raise MissingValue(key)
        return format(known[key], spec)

    return GLUE.sub(value, text)


@functools.cache
def bibliography(path: Path | None = None) -> dict[str, tuple[str, str, str]]:
    """{key: (authors as cited, year, title)} of the book's BibTeX file (the checkout's); empty when it is not
    there."""
    from pybtex.database import parse_file

    root = locations.checkout()
    path = path or (root / "book" / "references.bib" if root else None)
    if path is None or not path.exists():  # an installed package without a checkout: citations by key
        return {}
    found = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author", [])
        last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        if len(last) > 2 or any(p.last_names == ["others"] for p in people):
            names = f"{last[0]} et al."
        else:
            names = " and ".join(last) or key
        title = re.sub(r"[{}]", "", entry.fields.get("title", key))
        found[key] = (names, entry.fields.get("year", "n.d."), title)
    return found


def cite_html(kind: str | None, keys: str) -> str:
    """One citation role as a reader sees it: (Author et al., 2025) or, for `{cite:t}`, Author et al. (2025)."""
    refs = bibliography()
    parts = []
    for key in (k.strip() for k in keys.split(",")):
        names, year, title = refs.get(key, (key, "", key))
        shown = f"{names} ({year})" if kind in ("t", "ts") else f"{names}, {year}".rstrip(", ")
        parts.append(f'<span class="xrfnb-cite" title="{html.escape(title)}">{html.escape(shown)}</span>')
    joined = "; ".join(parts)
    return joined if kind in ("t", "ts") else f"({joined})"


def to_html(markdown: str) -> str:
    """Filled Markdown as HTML for JupyterLab: CommonMark with tables, citations written out."""
    from markdown_it import MarkdownIt

    marker = "XRFNBCITE{}END"  # survives Markdown rendering untouched
    cites: list[str] = []

    def hold(match: re.Match) -> str:
        cites.append(cite_html(match.group(1), match.group(2)))
        return marker.format(len(cites) - 1)

    rendered = MarkdownIt("commonmark").enable("table").render(CITE.sub(hold, markdown))
    return re.sub(r"XRFNBCITE(\d+)END", lambda m: cites[int(m.group(1))], rendered)


def bundle(text: str, glued: Mapping[str, object] | None = None, /, **values) -> dict[str, str]:
    """The display bundle of a prose cell: MyST for the book, HTML for JupyterLab, plain text for consoles.

    A keyword may add a value, never replace one the notebook glued under the same name with another: the
    page would then say one number in its prose and another wherever the glued one is read (chapter 6's
    summary said "of 100", its maximum, where the glued record said the 53 epochs it trained).
    """
    clash = [k for k, v in values.items() if k in (glued or {}) and glued[k] != v]
    if clash:
        raise ValueError(f"prose keyword(s) {', '.join(clash)} differ from the value(s) the notebook glued under "
                         f"the same name: glue the other number under a name of its own")
    filled = fill(text, {**(glued or {}), **values}).strip()
    return {"text/markdown": filled, "text/html": to_html(filled),
            "text/plain": CITE.sub(lambda m: m.group(2), filled)}


def show(text: str, glued: Mapping[str, object] | None = None, /, **values) -> None:
    """Display prose with its numbers filled in from `glued` and `values`, and its citations rendered (see
    the module docstring)."""
    from IPython.display import display

    display(bundle(text, glued, **values), raw=True)


def inside(value: float, interval: tuple[float, float]) -> bool:
    """Whether `value` lies within the 95 % `interval` (low, high) of the number it is compared with."""
    low, high = interval
    return low <= value <= high


def versus(value: float, reference: float, interval: tuple[float, float], digits: int = 4, of: str = "") -> str:
    """Words for a difference between two measured numbers: `value` against `reference` (named by `of`,
    e.g. "SmallUViT's "), and whether the difference lies inside the 95 % `interval` of `reference` (its
    spread over the test paintings).

    Every sentence of the book that reads a difference between two measurements says this, so that a
    difference inside the interval is never read as an effect.
    """
    low, high = interval
    where = "inside" if inside(value, interval) else "outside"
    reading = "no measurable effect" if where == "inside" else "a measurable difference"
    return (f"{value:.{digits}f} against {of}{reference:.{digits}f}, a difference of {value - reference:+.{digits}f}, "
            f"{where} the 95 % interval of the latter ({low:.{digits}f} to {high:.{digits}f}): {reading}")


def paired(gain: float, interval: tuple[float, float], digits: int = 4) -> str:
    """Words for a paired difference (model minus reference, image by image) and its 95 % interval over
    the test paintings: a gain or a loss only where the interval excludes zero."""
    low, high = interval
    reading = ("no measurable effect" if low <= 0 <= high else
               "a measurable gain" if gain > 0 else "a measurable loss")
    return (f"{gain:+.{digits}f} (paired 95 % interval {low:+.{digits}f} to {high:+.{digits}f} over the test "
            f"paintings): {reading}")
