"""The pigment palette: each pigment a pair (reference sRGB, characteristic XRF spectrum).

The paper's 12 pigments by default; the `palette` parameter names another palette file
(`xrfnb.palette.palette_file`: a bundled one, or your own). Spectra are computed from each pigment's composition
with `xrfnb.palette.physics` (the book's choices page, "pigment spectra"), since the paper's tabulated database is
not public, or read from a measured spectrum. `Palette.export_ganx` writes the palette in the layout the
paper's own generator library `ganx` reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
import xraylib as xr
import yaml

from . import palette_file, physics
from ..scans import readers
from ..config import ParameterError, StageParams, one_of, positive
from ..io import atomic_path

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Palette:
    """P pigments on an E-channel energy axis.

    Attributes
    ----------
    names : pigment names, length P.
    rgb : (P, 3) uint8 sRGB reference colours.
    energy : (E,) channel centres in keV.
    spectra : (P, E) non-negative spectra, each row summing to 1.
    compositions : per pigment, {compound formula: mass fraction}.
    lines : per pigment, the lines a conservator expects to see.
    sample : the sample model the spectra were computed for ('reference', 'fresco'; '' if unknown).
    sample_settings : that model's settings (e.g. the fresco paint's pigment fraction and thickness).
    instrument : the tube, geometry and detector the spectra were computed for (None if unknown, e.g.
        a palette read from a ganx export); every consumer of the palette uses this one.
    """

    names: tuple[str, ...]
    rgb: np.ndarray
    energy: np.ndarray
    spectra: np.ndarray
    compositions: tuple[dict[str, float], ...]
    lines: tuple[str, ...] = field(default=())
    sample: str = ""
    sample_settings: dict = field(default_factory=dict)
    instrument: physics.Instrument | None = None
    source: str = ""  # the palette file it was built from (`palette_file`: a bundled name or a path)

    def __post_init__(self) -> None:
        p, e = len(self.names), len(self.energy)
        if self.rgb.shape != (p, 3) or self.spectra.shape != (p, e):
            raise ValueError(f"palette: rgb {self.rgb.shape} and spectra {self.spectra.shape} "
                             f"do not match {p} names and {e} channels")

    def __len__(self) -> int:
        return len(self.names)

    def save(self, path: str | Path) -> Path:
        """Write the palette to one HDF5 file (atomically), the file later stages read."""
        path = Path(path)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
            h5["names"] = np.array(self.names, dtype=h5py.string_dtype())
            h5["rgb"], h5["energy"], h5["spectra"] = self.rgb, self.energy, self.spectra
            h5.attrs["compositions"] = json.dumps(self.compositions)
            h5.attrs["lines"] = json.dumps(self.lines)
            h5.attrs["sample"] = self.sample
            h5.attrs["sample_settings"] = json.dumps(self.sample_settings)
            if self.instrument is not None:
                h5.attrs["instrument"] = json.dumps(asdict(self.instrument))
            h5.attrs["source"] = self.source
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Palette":
        """Read a palette written by `save`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no palette file (run the pigments stage first)")
        with h5py.File(path, "r") as h5:
            instrument = h5.attrs.get("instrument")
            return cls(names=tuple(n.decode() if isinstance(n, bytes) else n for n in h5["names"][()]),
                       rgb=h5["rgb"][()], energy=h5["energy"][()], spectra=h5["spectra"][()],
                       compositions=tuple(json.loads(h5.attrs["compositions"])),
                       lines=tuple(json.loads(h5.attrs["lines"])), sample=str(h5.attrs.get("sample", "")),
                       sample_settings=_tuples(json.loads(h5.attrs.get("sample_settings", "{}"))),
                       instrument=physics.Instrument(**json.loads(instrument)) if instrument else None,
                       source=str(h5.attrs.get("source", "")))

    def sample_model(self) -> physics.Sample:
        """The sample model the spectra were computed for, with its settings (reference if unknown)."""
        return physics.sample_model(self.sample or "reference", **self.sample_settings)

    def measured_with(self) -> physics.Instrument:
        """The instrument the spectra were computed for; the default one for a palette that records none."""
        return self.instrument or physics.Instrument()

    def export_ganx(self, folder: str | Path) -> Path:
        """Write the palette as `ganx` reads it: `palette.json` plus one HDF5 file (`x` keV, `y`) per pigment.

        The JSON maps each name to {"xrf": "<file>.h5", "RGB": [r, g, b]}, file names relative to the
        JSON's folder. Returns the JSON's path.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index = {}
        for name, rgb, y in zip(self.names, self.rgb, self.spectra):
            file = name.lower().replace(" ", "_") + ".h5"
            with atomic_path(folder / file) as tmp, h5py.File(tmp, "w") as h5:
                h5["x"] = self.energy
                h5["y"] = y
            index[name] = {"xrf": file, "RGB": [int(c) for c in rgb]}
        with atomic_path(folder / "palette.json") as tmp:
            tmp.write_text(json.dumps(index, indent=2) + "\n")
        return folder / "palette.json"


def _tuples(value):
    """JSON's lists back as the tuples the frozen settings dataclasses hold."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def load_ganx(json_path: str | Path) -> Palette:
    """Read a palette written in the `ganx` layout (file paths relative to the JSON's folder)."""
    json_path = Path(json_path)
    index = json.loads(json_path.read_text())
    names, rgb, spectra, energy = [], [], [], None
    for name, entry in index.items():
        file = json_path.parent / entry["xrf"]
        if not file.exists():
            raise FileNotFoundError(f"{json_path}: pigment {name!r} points at missing file {file}")
        with h5py.File(file, "r") as h5:
            x, y = np.asarray(h5["x"]), np.asarray(h5["y"], dtype=float)
        if energy is not None and not np.allclose(x, energy):
            raise ValueError(f"{file}: energy axis differs from the other pigments'")
        energy = x
        names.append(name)
        rgb.append(entry["RGB"])
        spectra.append(y / y.sum())
    return Palette(tuple(names), np.array(rgb, dtype=np.uint8), energy, np.array(spectra),
                   tuple({} for _ in names))


def palette_table() -> dict:
    """The bundled palette description (`xrfnb/data/palette.yml`): pigments and plaster."""
    return yaml.safe_load(resources.files("xrfnb").joinpath("data/palette.yml").read_text())


def pigment_spectrum(composition: dict[str, float] | None, axis: physics.EnergyAxis,
                     instrument: physics.Instrument, sample: physics.Sample,
                     where: str = "pigment", plaster: dict[str, float] | None = None) -> np.ndarray:
    """Normalised spectrum of `composition` measured as `sample` describes (None: the bare plaster);
    `plaster` is the ground's composition (default: the paper's lime plaster)."""
    ground = physics.parse_composition(plaster or palette_table()["plaster"]["composition"], "plaster")
    pigment = None if composition is None else physics.parse_composition(composition, where)
    return physics.spectrum(sample.layers(pigment, ground), axis, instrument)


def measured_spectrum(pigment: palette_file.Pigment, axis: physics.EnergyAxis) -> np.ndarray:
    """A measured pigment spectrum on the model's channels: rebinned with its counts conserved (channels
    the file does not cover stay empty), then normalised."""
    counts = pigment.measured @ readers.rebin_matrix(pigment.energy, axis.centres)
    if counts.sum() <= 0:
        raise palette_file.PaletteError(f"{pigment.spectrum}: pigment {pigment.name!r}: spectrum: no counts "
                                        f"between {axis.e_min} and {axis.e_max} keV, the model's axis")
    return counts / counts.sum()


@lru_cache(maxsize=8)
def build_palette(palette: str = "paper", digest: str = "", n_channels: int = 512, e_min: float = 0.5,
                  e_max: float = 38.5, instrument: physics.Instrument = physics.Instrument(),
                  sample: physics.Sample = physics.ReferenceSample()) -> Palette:
    """The pigments of a palette file (`palette_file`: a bundled name or a path) on the given axis.

    A pigment given by composition is computed for `instrument` and `sample`; a measured one is rebinned.
    `digest` (of the files, `palette_file.digest`) keys the cache, so an edited file is read anew.
    """
    table = palette_file.read(palette)
    axis = physics.EnergyAxis(e_min, e_max, n_channels)
    spectra = [pigment_spectrum(p.composition, axis, instrument, sample, p.name, table.plaster)
               if p.composition is not None else measured_spectrum(p, axis) for p in table.pigments]
    return Palette(
        names=tuple(p.name for p in table.pigments),
        rgb=np.array([p.rgb for p in table.pigments], dtype=np.uint8),
        energy=axis.centres,
        spectra=np.stack(spectra),
        compositions=tuple(dict(p.composition or {}) for p in table.pigments),
        lines=tuple(p.lines for p in table.pigments),
        sample=physics.model_name(sample),
        sample_settings=asdict(sample),
        instrument=instrument,
        source=palette,
    )


def palette_on(palette: str, axis: physics.EnergyAxis, instrument: physics.Instrument,
               sample: physics.Sample) -> Palette:
    """A palette file (a bundled name or a path) on `axis`, as it is now: built again once its files change."""
    digest = palette_file.digest(palette_file.read(palette))
    return build_palette(palette, digest, axis.n_channels, axis.e_min, axis.e_max, instrument, sample)


def rebuilt(palette: Palette, sample: physics.Sample) -> Palette:
    """The same palette file on the same axis and instrument, under another sample model (measured
    pigments keep their measured spectrum)."""
    return palette_on(palette.source or "paper", physics.EnergyAxis.from_centres(palette.energy),
                      palette.measured_with(), sample)


def paper_palette(n_channels: int = 512, e_min: float = 0.5, e_max: float = 38.5,
                  instrument: physics.Instrument = physics.Instrument(),
                  sample: physics.Sample = physics.ReferenceSample()) -> Palette:
    """The paper's 12 pigments with spectra computed for `instrument` and `sample` on the given axis.

    The default sample is a thick layer of each pure pigment, as the paper's reference database was
    measured; `physics.FrescoSample()` paints each pigment over lime plaster instead.
    """
    return build_palette("paper", "", n_channels, e_min, e_max, instrument, sample)


@dataclass(frozen=True)
class PaletteParams(StageParams):
    """Chapter 1: the palette, and the energy axis, instrument and sample model its spectra are computed for."""

    stage = "01_pigments"
    writes = ("palette.h5",)
    code = ("xrfnb.palette.physics", "xrfnb.palette.pigments", "xrfnb.palette.palette_file", "xrfnb.scans.readers")

    palette: str = "paper"  # paper (the 12 pigments), copper (plus azurite, malachite), or a palette YAML file

    n_channels: int = 512  # detector channels on the energy axis
    e_min: float = 0.5  # keV, lower edge of the axis
    e_max: float = 38.5  # keV, upper edge of the axis
    anode: str = "Mo"  # X-ray tube anode
    tube_kv: float = 40.0  # tube voltage (kV)
    air_cm: float = 1.0  # air path between sample and detector (cm)
    noise_ev: float = 26.0  # detector electronic noise (eV, sigma)
    sample_model: str = "reference"  # reference (thick pure pigment) or fresco (paint on plaster)
    pigment_fraction: float = 0.5  # fresco model: mass fraction of pigment in the CaCO3 binder
    paint_thickness_um: float = 20.0  # fresco model: paint layer thickness (micrometres)

    def validate(self) -> None:
        positive(self.stage, n_channels=self.n_channels, tube_kv=self.tube_kv, noise_ev=self.noise_ev,
                 paint_thickness_um=self.paint_thickness_um)
        if not 0 <= self.e_min < self.e_max:
            raise ParameterError(f"{self.stage}: need 0 <= e_min < e_max, got {self.e_min} and {self.e_max}")
        one_of(self.stage, "sample_model", self.sample_model, tuple(physics.SAMPLE_MODELS))
        try:
            palette_file.read(self.palette)
        except palette_file.PaletteError as err:
            raise ParameterError(f"{self.stage}: palette: {err}") from None

    def content(self) -> dict[str, str]:
        """The palette's files (YAML and measured spectra) are part of the key: another palette, another run."""
        return {"palette": palette_file.digest(palette_file.read(self.palette))}

    def instrument(self) -> physics.Instrument:
        return physics.Instrument(anode=self.anode, tube_kv=self.tube_kv, air_cm=self.air_cm, noise_ev=self.noise_ev)

    def samples(self) -> dict[str, physics.Sample]:
        """Both sample models with these settings (chapter 1 draws the one in use against the other)."""
        return {"reference": physics.ReferenceSample(),
                "fresco": physics.FrescoSample(pigment_fraction=self.pigment_fraction,
                                               paint_thickness_um=self.paint_thickness_um)}

    def axis(self) -> physics.EnergyAxis:
        return physics.EnergyAxis(self.e_min, self.e_max, self.n_channels)

    def make_palette(self, sample_model: str | None = None) -> Palette:
        """This run's palette for these settings (under another sample model if one is named)."""
        sample = self.samples()[sample_model or self.sample_model]
        return palette_on(self.palette, self.axis(), self.instrument(), sample)


def run_stage(run: Path, params: PaletteParams) -> Palette:
    """The pigments stage on a run directory: `palette.h5` (and its ganx export) out, with its record."""
    run = Path(run)
    palette = params.make_palette()
    palette.save(run / "palette.h5")
    palette.export_ganx(run / "palette_ganx")
    params.record(run, params.current_key(run))
    return palette


#: Lines worth labelling: K alpha1, K beta1, L alpha1, L beta1, M alpha1.
LABEL_LINES = {"Ka": xr.KL3_LINE, "Kb": xr.KM3_LINE, "La": xr.L3M5_LINE, "Lb": xr.L2M4_LINE, "Ma": xr.M5N7_LINE}


def visible_lines(composition: dict[str, float], spectrum: np.ndarray, background: np.ndarray,
                  energy: np.ndarray, contrast: float = 1.3, e_floor: float = 1.0) -> list[tuple[str, float]]:
    """Lines of a composition's elements that stand out of `background` (e.g. the bare plaster).

    A line is visible when the spectrum in its channel exceeds the background there by `contrast`;
    lines below `e_floor` keV (absorbed by air and the detector window) are ignored.
    Returns (label such as "Fe Ka", line energy keV), strongest first.
    """
    if not composition:  # a measured pigment: no composition to label lines from
        return []
    width = energy[1] - energy[0]
    found = []
    for symbol in physics.parse_composition(composition):
        z = xr.SymbolToAtomicNumber(symbol)
        for name, code in LABEL_LINES.items():
            try:
                e = xr.LineEnergy(z, code)
            except ValueError:
                continue
            i = int(round((e - energy[0]) / width))
            if e >= e_floor and 0 <= i < len(energy) and spectrum[i] > contrast * background[i]:
                found.append((f"{symbol} {name}", e, spectrum[i]))
    return [(label, e) for label, e, _ in sorted(found, key=lambda t: -t[2])]


def window_share(spectrum: np.ndarray, energy: np.ndarray, centre_kev: float, half_width_kev: float = 0.15) -> float:
    """Fraction of a normalised spectrum's counts within +-`half_width_kev` of `centre_kev`."""
    return float(spectrum[np.abs(energy - centre_kev) <= half_width_kev].sum())


def sample_model_table(palette: Palette, other: Palette, labels: list[list[tuple[str, float]]]) -> "pd.DataFrame":
    """Per pigment, the share of counts in the Ca K alpha window and in its own strongest line's window,
    under the palette's sample model and under `other`'s (the same pigments, another sample model)."""
    import pandas as pd

    ca = physics.line_energy("Ca", "KL3")
    rows = []
    for i, name in enumerate(palette.names):
        line, e = labels[i][0] if labels[i] else ("none", float("nan"))
        row = {"pigment": name, "strongest own line": line}
        for p in (palette, other):
            row[f"{p.sample}: Ca K share"] = window_share(p.spectra[i], p.energy, ca)
            row[f"{p.sample}: own line share"] = window_share(p.spectra[i], p.energy, e) if labels[i] else 0.0
        rows.append(row)
    return pd.DataFrame(rows)
