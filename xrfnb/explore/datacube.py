"""The datacube explorer: an element line's map, and any pixel's spectrum with its lines labelled.

Works on any (H, W, E) counts cube with its energy axis (a synthetic sample or a measured scan read by
`xrfnb.scans.realdata.load_cube`); for a synthetic sample it also shows the pixel's pigment mixture, its
cluster's colour and the pixel's true colour.
"""

from __future__ import annotations

import re

import numpy as np
import xraylib as xr

from ..palette import physics
from ..synthetic import synth
from ..plots import styled
from .static import (Control, Explorer, Slot, colormap, figure_png, figure_uri, frame_uri, frames, image_bytes,
                     page_part, swatch)

#: Lines tried, in order, for an element typed without one: K alpha, L alpha, M alpha.
FIRST_LINES = ("KL3", "L3M5", "M5N7")
#: Half-width of an element map's energy window (keV), as `synth.element_maps`.
HALF_WIDTH_KEV = 0.08
#: A line is labelled on a spectrum when its window holds at least this share of the spectrum's counts.
LABEL_SHARE = 0.01


class BadInput(ValueError):
    """A reader's input the explorer cannot show; its message goes into the widget."""


def find_line(text: str, energy: np.ndarray) -> tuple[str, float]:
    """An element line typed as 'Fe', 'Fe KL3' or 'Hg L3M5': (label, energy keV) inside the energy axis."""
    parts = text.split()
    if not parts or len(parts) > 2:
        raise BadInput(f"{text!r}: type an element symbol, optionally with an IUPAC line (e.g. 'Fe' or 'Hg L3M5')")
    symbol = parts[0].capitalize()
    try:
        z = xr.SymbolToAtomicNumber(symbol)
    except ValueError:
        z = 0
    if z <= 0:
        raise BadInput(f"{parts[0]!r} is not an element symbol")
    codes = (parts[1].upper(),) if len(parts) == 2 else FIRST_LINES
    lo, hi = float(energy[0]), float(energy[-1])
    for code in codes:
        if not hasattr(xr, f"{code}_LINE"):
            raise BadInput(f"{code!r} is not an IUPAC line name (e.g. KL3, KM3, L3M5)")
        try:
            e = physics.line_energy(symbol, code)
        except ValueError:
            continue
        if lo <= e <= hi:
            return f"{symbol} {code}", e
    raise BadInput(f"{symbol} has no {'/'.join(codes)} line between {lo:.1f} and {hi:.1f} keV")


def element_map(cube: np.ndarray, energy: np.ndarray, line_kev: float) -> np.ndarray:
    """Counts per pixel in the window around a line (H, W)."""
    return cube[..., np.abs(energy - line_kev) <= HALF_WIDTH_KEV].sum(-1)


def labelled_lines(spectrum: np.ndarray, energy: np.ndarray) -> list[tuple[str, float]]:
    """The chapter's labelled lines (`synth.SPECTRUM_LABELS`) holding at least LABEL_SHARE of `spectrum`."""
    total = max(float(np.sum(spectrum)), 1e-12)
    found = []
    for element, name, code in synth.SPECTRUM_LABELS:
        e = physics.line_energy(element, code)
        if energy[0] <= e <= energy[-1] and spectrum[np.abs(energy - e) <= HALF_WIDTH_KEV].sum() / total >= LABEL_SHARE:
            found.append((f"{element} {name}", e))
    return found


@styled
def spectrum_figure(energy: np.ndarray, counts: np.ndarray | None, expected: np.ndarray | None, title: str):
    """A pixel's counts (steps) and/or its expected spectrum (line) on a log scale, lines labelled."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    if counts is not None:
        ax.step(energy, np.maximum(counts, 0.5), where="mid", lw=0.8, color="0.3", label="counts")
    if expected is not None:
        ax.plot(energy, np.maximum(expected, 1e-3), lw=1.2, color="tab:red", label="expected (cluster mixture)")
    shown = expected if expected is not None else counts
    ax.set(yscale="log", xlabel="energy (keV)", ylabel="counts per channel", title=title,
           ylim=(0.3, max(float(np.max(shown)) * 3, 3)))
    for label, e in labelled_lines(shown, energy):
        ax.axvline(e, color="tab:blue", lw=0.5, alpha=0.5)
        ax.text(e, ax.get_ylim()[1] * 0.6, label, rotation=90, fontsize=8, ha="right", va="top")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def parse_pixel(text: str, shape: tuple[int, int]) -> tuple[int, int]:
    """'row, column' typed by a reader, checked against the image's shape."""
    numbers = re.findall(r"-?\d+", text)
    if len(numbers) != 2:
        raise BadInput(f"{text!r}: type a pixel as 'row, column'")
    row, col = map(int, numbers)
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise BadInput(f"pixel ({row}, {col}) is outside the {shape[0]} x {shape[1]} image")
    return row, col


class DatacubeExplorer(Explorer):
    """Element maps and pixel spectra of a datacube; a synthetic sample adds mixtures and colours.

    Parameters
    ----------
    cube : (H, W, E) counts; `energy` its channel centres (keV).
    lines : element lines offered (e.g. `synth.MAP_LINES`); any other can be typed.
    synthesis, pigment_names, pigment_rgb, rgb : for a synthetic sample, what generated it and its image.
    """

    def __init__(self, cube: np.ndarray, energy: np.ndarray, lines: dict[str, str] = synth.MAP_LINES,
                 synthesis: synth.Synthesis | None = None, pigment_names: list[str] = (),
                 pigment_rgb: np.ndarray | None = None, rgb: np.ndarray | None = None, view_px: int = 256):
        import ipywidgets as w

        super().__init__()
        self.cube, self.energy = np.asarray(cube), np.asarray(energy)
        self.synthesis, self.names, self.pigment_rgb = synthesis, list(pigment_names), pigment_rgb
        self.rgb, self.view_px = rgb, view_px
        self.offered = [f"{el} {code}" for el, code in lines.items()
                        if energy[0] <= physics.line_energy(el, code) <= energy[-1]]
        h, wd = self.cube.shape[:2]
        self.controls = {
            "element": w.Combobox(options=self.offered, value=self.offered[0], ensure_option=False,
                                  description="element line", placeholder="e.g. Fe or Hg L3M5"),
            "row": w.IntSlider(value=h // 2, min=0, max=h - 1, description="row", continuous_update=False),
            "column": w.IntSlider(value=wd // 2, min=0, max=wd - 1, description="column", continuous_update=False),
            "pixel": w.Text(value=f"{h // 2}, {wd // 2}", description="go to pixel", continuous_update=False),
        }
        self.views = {"map": w.Image(format="png", width=view_px, height=view_px), "spectrum": w.Image(format="png"),
                      "pixel": w.HTML()}
        self.controls["element"].observe(lambda _c: self.show_map(), names="value")
        for name in ("row", "column"):
            self.controls[name].observe(lambda _c: self.show_pixel(), names="value")
        self.controls["pixel"].observe(lambda _c: self.go_to(), names="value")
        self.show_map()
        self.show_pixel()

    def map_image(self, line_kev: float, mark: tuple[int, int] | None = None) -> np.ndarray:
        picture = colormap(element_map(self.cube, self.energy, line_kev))
        if mark is not None:  # a cyan cross on the chosen pixel
            r, c = mark
            picture[r, :] = picture[:, c] = (0, 200, 220)
        return picture

    def show_map(self) -> None:
        try:
            label, e = find_line(self.controls["element"].value, self.energy)
        except BadInput as err:
            self.say(str(err))
            return
        self.say("")
        self.line = (label, e)
        mark = (self.controls["row"].value, self.controls["column"].value)
        self.views["map"].value = image_bytes(self.map_image(e, mark))

    def go_to(self) -> None:
        try:
            row, col = parse_pixel(self.controls["pixel"].value, self.cube.shape[:2])
        except BadInput as err:
            self.say(str(err))
            return
        self.say("")
        self.controls["row"].value, self.controls["column"].value = row, col
        self.show_pixel()

    def pixel_html(self, row: int, col: int) -> str:
        """What generated a synthetic pixel: its true colour, its cluster and the cluster's pigment mixture."""
        if self.synthesis is None:
            return f"pixel ({row}, {col}): {int(self.cube[row, col].sum())} counts"
        k = int(self.synthesis.labels[row, col])
        return self.cluster_html(k, f"pixel ({row}, {col}), {int(self.cube[row, col].sum())} counts", row, col)

    def cluster_html(self, k: int, head: str, row: int | None = None, col: int | None = None) -> str:
        s = self.synthesis
        weights = s.weights[k] / s.weights[k].sum()
        order = [j for j in np.argsort(-weights) if weights[j] > 0]
        mixture = "".join(f"<li>{swatch(self.pigment_rgb[j], f'{self.names[j]}: {weights[j]:.2f}')}</li>"
                          for j in order)
        true = (f"<br>true colour {swatch(self.rgb[row, col])}" if self.rgb is not None and row is not None else "")
        return (f"<b>{head}</b>{true}<br>cluster {k}, colour {swatch(s.cluster_rgb[k])}"
                f"<br>pigment mixture (weights):<ul style='margin:0'>{mixture}</ul>")

    def show_pixel(self) -> None:
        row, col = self.controls["row"].value, self.controls["column"].value
        if not (0 <= row < self.cube.shape[0] and 0 <= col < self.cube.shape[1]):
            self.say(f"pixel ({row}, {col}) is outside the {self.cube.shape[0]} x {self.cube.shape[1]} image")
            return
        expected = None
        if self.synthesis is not None:
            k = self.synthesis.labels[row, col]
            expected = self.synthesis.mixtures[k] * self.cube[row, col].sum()
        fig = spectrum_figure(self.energy, self.cube[row, col], expected, f"pixel ({row}, {col})")
        self.views["spectrum"].value = figure_png(fig)
        self.views["pixel"].value = self.pixel_html(row, col)
        if hasattr(self, "line"):
            self.views["map"].value = image_bytes(self.map_image(self.line[1], (row, col)))

    def widget(self):
        import ipywidgets as w

        c = self.controls
        return w.VBox([w.HBox([c["element"], c["pixel"]]), w.HBox([c["row"], c["column"]]),
                       w.HBox([self.views["map"], self.views["spectrum"], self.views["pixel"]]), self.message])

    def static_html(self) -> str:
        lines = [find_line(label, self.energy) for label in self.offered]
        controls = [Control("element", "element line", [label for label, _ in lines])]
        slots = [Slot(("element",), frames(controls, ("element",),
                                           lambda i: frame_uri(self.map_image(lines[i][1]))),
                      width=self.view_px, caption="element map (counts in ±80 eV)")]
        note = "Element maps saved when the chapter ran; pixel spectra need JupyterLab."
        if self.synthesis is not None:
            k_count = len(self.synthesis.cluster_rgb)
            controls.append(Control("cluster", "cluster", [f"cluster {k}" for k in range(k_count)]))
            clustered = frame_uri(self.synthesis.clustered_rgb())
            slots.append(Slot((), {"": clustered}, width=self.view_px, caption="clusters (their mean colours)"))
            slots.append(Slot(("cluster",), frames(controls, ("cluster",), self._cluster_spectrum), width=480,
                              caption="a cluster's expected spectrum"))
            slots.append(Slot(("cluster",), frames(controls, ("cluster",), lambda k: self.cluster_html(
                k, f"cluster {k}: {int((self.synthesis.labels == k).sum())} pixels")), "html"))
            note = ("Element maps and every cluster's expected spectrum and mixture saved when the chapter ran; "
                    "single pixels' spectra and true colours need JupyterLab.")
        return page_part("Datacube explorer", controls, slots, note)

    def _cluster_spectrum(self, k: int) -> str:
        expected = self.synthesis.mixtures[k] * self.synthesis.counts
        return figure_uri(spectrum_figure(self.energy, None, expected, f"cluster {k}: expected counts"))


def explore_datacube(cube: np.ndarray, energy: np.ndarray, synthesis: synth.Synthesis | None = None,
                     palette=None, rgb: np.ndarray | None = None) -> DatacubeExplorer:
    """A chapter's cell: the datacube explorer, displayed (`palette` and `rgb` for a synthetic sample)."""
    explorer = DatacubeExplorer(cube, energy, synth.MAP_LINES, synthesis,
                                list(palette.names) if palette is not None else [],
                                palette.rgb if palette is not None else None, rgb)
    explorer.show()
    return explorer
