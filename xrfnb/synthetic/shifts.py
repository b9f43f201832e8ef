"""Named distribution shifts with known ground truth: the test paintings drawn under conditions the models
never saw (chapter 8).

A shift is data (`xrfnb/data/shifts.yml`, or a file of the same layout): the generator parameters that
differ from the run's own. Most are options `synth` and `physics` already have (the instrument the
palette's spectra are computed for, the sample model, physics mixing, counts, Poisson counts, beam blur);
one is not, the energy calibration of the scan, and is applied here to the drawn counts. Each shifted
test image keeps its sample's clusters, pigment weights, seed and random stream, so the shift is the only
difference from the unshifted cube and the image's RGB stays its ground truth.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from ..palette import physics, pigments
from ..palette.pigments import Palette
from ..scans.readers import rebin_matrix
from . import synth

#: The bundled suite's name.
DEFAULT = "default"
#: The shift every suite holds: the run's own settings, which the other shifts are measured against.
REFERENCE = "unshifted"
#: The keys a shift may hold.
KEYS = ("label", "description", "instrument", "sample_model", "sample_settings", "mixing", "counts_factor",
        "poisson", "blur_sigma", "energy_offset_kev")


@dataclass(frozen=True)
class Shift:
    """One named shift: what differs from the run's generator settings (see `xrfnb/data/shifts.yml`)."""

    name: str
    label: str
    description: str = ""
    instrument: dict = field(default_factory=dict)
    sample_model: str | None = None
    sample_settings: dict = field(default_factory=dict)
    mixing: str | None = None
    counts_factor: float = 1.0
    poisson: bool | None = None
    blur_sigma: float | None = None
    energy_offset_kev: float = 0.0

    def __post_init__(self) -> None:
        where = f"shift {self.name!r}"
        fields = {f.name for f in dataclasses.fields(physics.Instrument)}
        unknown = sorted(set(self.instrument) - fields)
        if unknown:
            raise ValueError(f"{where}: unknown instrument field(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(fields))})")
        if self.sample_model is not None:
            physics.sample_model(self.sample_model, **self.sample_settings)  # a bad name or setting: one line
        if self.mixing not in (None, "linear", "physics"):
            raise ValueError(f"{where}: mixing must be linear or physics, got {self.mixing!r}")
        if not self.counts_factor > 0:
            raise ValueError(f"{where}: counts_factor must be positive, got {self.counts_factor}")
        if self.blur_sigma is not None and self.blur_sigma < 0:
            raise ValueError(f"{where}: blur_sigma must be at least 0, got {self.blur_sigma}")

    @property
    def changes_palette(self) -> bool:
        """Whether the pigments' spectra are computed again (another instrument or sample model)."""
        return bool(self.instrument) or self.sample_model is not None

    def palette(self, base: Palette) -> Palette:
        """The run's palette computed for this shift's instrument and sample model (the same palette file and
        energy axis)."""
        if not self.changes_palette:
            return base
        instrument = dataclasses.replace(base.measured_with(), **self.instrument)
        sample = (physics.sample_model(self.sample_model, **self.sample_settings) if self.sample_model is not None
                  else base.sample_model())
        return pigments.palette_on(base.source or "paper", physics.EnergyAxis.from_centres(base.energy), instrument,
                                   sample)

    def synthesis(self, base: synth.Synthesis, palette: Palette) -> synth.Synthesis:
        """A test image's synthesis under this shift: the same clusters and weights, other mixtures or drawing.

        `palette` is the shift's own (`Shift.palette`); the mixtures are the run's linear ones of its
        spectra, or the physics model's of the mixed compositions.
        """
        mixtures = base.mixtures
        if self.mixing == "physics":
            mixtures = synth.physics_mixtures(base.weights, palette)
        elif self.changes_palette:
            mixtures = synth.mixtures_of(base.weights, palette.spectra)
        counts = max(1, int(round(base.counts * self.counts_factor)))
        return dataclasses.replace(base, mixtures=mixtures, counts=counts,
                                   poisson=base.poisson if self.poisson is None else self.poisson,
                                   blur_sigma=base.blur_sigma if self.blur_sigma is None else self.blur_sigma)

    def cube(self, synthesis: synth.Synthesis, energy: np.ndarray, device: str = "cpu") -> np.ndarray:
        """The shifted image's counts (H, W, E): drawn, then recorded on an energy axis off by
        `energy_offset_kev` (a photon of energy e lands in the channel that holds e - offset; counts are
        conserved except those pushed past the axis' ends)."""
        cube = synthesis.cube(device)
        if not self.energy_offset_kev:
            return cube
        h, w, e = cube.shape
        moved = cube.reshape(-1, e).astype(np.float32) @ calibration_matrix(energy, self.energy_offset_kev)
        return moved.reshape(h, w, e)


def calibration_matrix(energy: np.ndarray, offset_kev: float) -> np.ndarray:
    """(E, E) matrix taking counts on the channel centres `energy` to the channels a detector whose calibration
    reads `offset_kev` low would record them in (each channel's counts spread over the channels it overlaps)."""
    return rebin_matrix(np.asarray(energy) - offset_kev, np.asarray(energy)).astype(np.float32)


def suite_path(suite: str = DEFAULT) -> Path:
    """The YAML file of a suite: the bundled one by its name (`default`), else a path."""
    if suite == DEFAULT:
        return Path(str(resources.files("xrfnb").joinpath("data/shifts.yml")))
    path = Path(suite)
    if not path.exists():
        raise FileNotFoundError(f"{suite}: no such shift suite (the bundled one is {DEFAULT!r})")
    return path


def digest(suite: str = DEFAULT) -> str:
    """The suite file's content hash (part of chapter 8's key: another suite, another result)."""
    return hashlib.sha256(suite_path(suite).read_bytes()).hexdigest()


def load(suite: str = DEFAULT) -> dict[str, Shift]:
    """The suite's shifts by name, in the file's order; a bad entry is refused in one line naming it."""
    path = suite_path(suite)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: a shift suite is a mapping of shift names to their settings")
    out = {}
    for name, entry in data.items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: shift {name!r} is not a mapping of settings")
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            raise ValueError(f"{path}: shift {name!r}: unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})")
        out[str(name)] = Shift(name=str(name), **{"label": str(name), **entry})
    if REFERENCE not in out or out[REFERENCE].changes_palette or out[REFERENCE] != Shift(
            REFERENCE, out[REFERENCE].label, out[REFERENCE].description):
        raise ValueError(f"{path}: a shift suite needs {REFERENCE!r}, changing nothing (the shifts are measured "
                         f"against it)")
    return out


def table(shifts: dict[str, Shift]) -> "pd.DataFrame":
    """The suite as a table a reader can scan: each shift's label, what it changes, and its description."""
    import pandas as pd

    rows = []
    for s in shifts.values():
        changes = [f"{k}={v}" for k, v in s.instrument.items()]
        changes += [f"sample model {s.sample_model}"] if s.sample_model else []
        changes += [f"{s.mixing} mixing"] if s.mixing else []
        changes += [f"counts x{s.counts_factor:g}"] if s.counts_factor != 1 else []
        changes += ["Poisson counts"] if s.poisson else []
        changes += [f"blur {s.blur_sigma:g} px"] if s.blur_sigma else []
        changes += [f"energy offset {1000 * s.energy_offset_kev:g} eV"] if s.energy_offset_kev else []
        rows.append({"shift": s.name, "label": s.label, "changes": ", ".join(changes) or "nothing",
                     "description": s.description})
    return pd.DataFrame(rows).set_index("shift")


def pick_test_images(store, n: int) -> np.ndarray:
    """`n` test samples spread over the test paintings (each painting's first crop, then its second, ...), so
    the intervals over paintings hold as many paintings as `n` allows."""
    index = store.indices("test")
    painting = store.painting[index]
    order = np.lexsort((index, np.array([np.sum(painting[:k] == p) for k, p in enumerate(painting)])))
    return np.sort(index[order[:n]])
