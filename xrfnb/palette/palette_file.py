"""Palette files: the YAML layout of the bundled `xrfnb/data/palette.yml`, read and checked.

The paper applies its pipeline "use case by use case", with a palette for the artwork at hand; the
`palette` parameter names one: `paper` (the bundled 12 pigments), `copper` (the paper's 12 plus azurite
and malachite, `xrfnb/data/palettes/copper.yml`), or the path of your own file::

    extends: paper            # optional: start from a bundled palette's pigments (and plaster)
    pigments:
      Malachite:
        rgb: [64, 145, 108]   # sRGB 0-255 of the paint-out
        composition: {Cu2CO3(OH)2: 0.99, SiO2: 0.01}   # compound formula: mass fraction
        loi: 0.0              # optional: loss on ignition, so that composition + loi sums to 1 (within 2 %)
        lines: Cu K 8.05/8.90 # optional: what a conservator expects to see
      My Verdigris:
        rgb: [67, 179, 174]
        spectrum: verdigris.msa   # or a measured spectrum, in any format `xrfnb recolour` reads,
        calibration: [0.0, 0.01]  # with its calibration (offset keV, keV/channel) if the file has none
    plaster: {composition: {CaCO3: 0.98, SiO2: 0.02}}   # optional: the ground (default: the paper's)

Paths are relative to the YAML file. A file that fails a check is refused in one line naming the file,
the pigment and the field, before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from .. import locations
from . import physics
from ..scans import readers

#: The palettes shipped with xrfnb, by name.
BUNDLED = {"paper": "data/palette.yml", "copper": "data/palettes/copper.yml"}
FIELDS = {"rgb", "composition", "loi", "spectrum", "calibration", "lines"}
#: How far composition + loi may sum from 1.
SUM_TOLERANCE = 0.02


class PaletteError(ValueError):
    """A palette file that cannot be used; the message names the file, the pigment and the field."""


@dataclass(frozen=True, eq=False)
class Pigment:
    """One pigment of a palette file: its colour and either a composition or a measured spectrum, read
    from its file (`measured`: the counts summed over the file's pixels, on the file's `energy`, keV)."""

    name: str
    rgb: tuple[int, int, int]
    composition: dict[str, float] | None = None
    spectrum: Path | None = None
    measured: np.ndarray | None = None
    energy: np.ndarray | None = None
    notes: tuple[str, ...] = ()  # what reading the measured spectrum corrected (e.g. negative channels)
    lines: str = ""


@dataclass(frozen=True)
class PaletteFile:
    """A checked palette file: its pigments in order, the plaster's composition, and where it was read."""

    source: str
    pigments: tuple[Pigment, ...]
    plaster: dict[str, float]
    files: tuple[Path, ...]  # the YAML file(s) and measured spectra read: what the stage's key hashes


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (safe_load keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise PaletteError(f"line {key_node.start_mark.line + 1}: duplicate name {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep)


def locate(palette: str) -> Path:
    """The file a `palette` parameter names: a bundled palette's name, or a path (a relative one from the
    working folder, else from the checkout (`locations`), where `xrfnb run` is started while notebooks run in
    `notebooks/`)."""
    if palette in BUNDLED:
        return Path(str(resources.files("xrfnb").joinpath(BUNDLED[palette])))
    path = Path(palette).expanduser()
    root = locations.checkout()
    if not path.is_absolute() and not path.is_file() and root is not None:
        path = root / path
    if not path.is_file():
        raise PaletteError(f"{palette}: no such palette file (or one of the bundled palettes: "
                           f"{', '.join(BUNDLED)})")
    return path


def label(palette: str) -> str:
    """How a report or page names a palette: a bundled palette's name, or its file's name (not its path)."""
    return palette if palette in BUNDLED or not palette else Path(palette).name


def read(palette: str = "paper") -> PaletteFile:
    """Read and check a palette file (see the module's docstring for its layout)."""
    path = locate(palette)
    try:
        table = yaml.load(path.read_text(), Loader=_UniqueKeys)
    except PaletteError as err:
        raise PaletteError(f"{path}: {err}") from None
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:
        raise PaletteError(f"{path}: not a readable YAML palette ({type(err).__name__}: "
                           f"{str(err).splitlines()[0]})") from None
    if not isinstance(table, dict) or not isinstance(table.get("pigments"), dict):
        raise PaletteError(f"{path}: a palette file is a mapping with a `pigments` mapping of name to pigment")
    unknown = set(table) - {"pigments", "plaster", "extends"}
    if unknown:
        raise PaletteError(f"{path}: unknown top-level field(s) {', '.join(sorted(unknown))} "
                           f"(known: pigments, plaster, extends)")
    base = _base(table.get("extends"), path)
    own = tuple(_pigment(path, str(name), entry) for name, entry in table["pigments"].items())
    names = [p.name for p in (*(base.pigments if base else ()), *own)]
    for name in names:
        if names.count(name) > 1:
            raise PaletteError(f"{path}: pigment {name!r}: duplicate name (also in the palette it extends)")
    pigments = (*(base.pigments if base else ()), *own)
    if len(pigments) < 2:
        raise PaletteError(f"{path}: {len(pigments)} pigment(s); a palette needs at least 2")
    plaster = (_composition(path, "plaster", table["plaster"]) if "plaster" in table
               else base.plaster if base else read("paper").plaster)
    files = (*(base.files if base else ()), path, *(p.spectrum for p in own if p.spectrum is not None))
    return PaletteFile(str(palette), pigments, plaster, files)


def digest(palette: PaletteFile) -> str:
    """A hash of the palette's files: a YAML file by what it says (a comment edit changes no key), a measured
    spectrum by its bytes. Another file, another key."""
    h = hashlib.sha256()
    for path in palette.files:
        data = path.read_bytes()
        if path.suffix in (".yml", ".yaml"):
            data = json.dumps(yaml.safe_load(data), sort_keys=True, default=str).encode()
        h.update(path.name.encode() + hashlib.sha256(data).digest())
    return h.hexdigest()


def _base(extends: object, path: Path) -> PaletteFile | None:
    if extends is None:
        return None
    if extends not in BUNDLED:
        raise PaletteError(f"{path}: extends: {extends!r} is not a bundled palette ({', '.join(BUNDLED)})")
    return read(str(extends))


def _pigment(path: Path, name: str, entry: object) -> Pigment:
    where = f"{path}: pigment {name!r}"
    if not isinstance(entry, dict):
        raise PaletteError(f"{where}: expected a mapping with rgb and a composition or a spectrum")
    unknown = set(entry) - FIELDS
    if unknown:
        raise PaletteError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(FIELDS))})")
    rgb = _rgb(where, entry.get("rgb"))
    if ("composition" in entry) == ("spectrum" in entry):
        raise PaletteError(f"{where}: give either a composition or a measured spectrum, not "
                           f"{'both' if 'composition' in entry else 'neither'}")
    if "composition" in entry:
        return Pigment(name, rgb, composition=_composition(path, name, entry), lines=str(entry.get("lines", "")))
    file = _spectrum_path(where, path, entry["spectrum"])
    try:
        cube = readers.read(file, calibration=_calibration(where, entry.get("calibration")))
    except (readers.ScanError, OSError) as err:
        raise PaletteError(f"{where}: spectrum: {err}") from None
    counts = np.asarray(cube.counts, float).sum((0, 1))
    if counts.sum() <= 0:
        raise PaletteError(f"{where}: spectrum: {file} holds no counts")
    return Pigment(name, rgb, spectrum=file, measured=counts, energy=np.asarray(cube.energy, float),
                   notes=cube.notes, lines=str(entry.get("lines", f"measured ({file.name})")))


def _rgb(where: str, rgb: object) -> tuple[int, int, int]:
    ok = (isinstance(rgb, (list, tuple)) and len(rgb) == 3
          and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in rgb))
    if not ok:
        raise PaletteError(f"{where}: rgb: {rgb!r} is not three integers from 0 to 255")
    return tuple(rgb)


def _composition(path: Path, name: str, entry: dict) -> dict[str, float]:
    where = f"{path}: {'the plaster' if name == 'plaster' else f'pigment {name!r}'}"
    composition, loi = entry.get("composition"), entry.get("loi", 0.0)
    if not isinstance(composition, dict) or not composition:
        raise PaletteError(f"{where}: composition: expected a mapping of compound formula to mass fraction")
    fractions = [*composition.values(), loi]
    if not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f >= 0 for f in fractions):
        raise PaletteError(f"{where}: composition: mass fractions (and loi) must be non-negative numbers")
    for formula in composition:
        try:
            physics.parse_composition({formula: 1.0}, "")
        except ValueError:
            raise PaletteError(f"{where}: composition: unknown compound formula {formula!r}") from None
    total = sum(fractions)
    if abs(total - 1) > SUM_TOLERANCE:
        raise PaletteError(f"{where}: composition: mass fractions{' and loi' if loi else ''} sum to {total:.4g}, "
                           f"not 1 within {100 * SUM_TOLERANCE:g} % (give the rest as `loi` if it has no lines)")
    return {str(k): float(v) for k, v in composition.items()}


def _spectrum_path(where: str, path: Path, spectrum: object) -> Path:
    file = (path.parent / str(spectrum)).resolve()
    if not file.is_file():
        raise PaletteError(f"{where}: spectrum: no such file {file}")
    return file


def _calibration(where: str, calibration: object) -> tuple[float, float] | None:
    if calibration is None:
        return None
    ok = (isinstance(calibration, (list, tuple)) and len(calibration) == 2
          and all(isinstance(c, (int, float)) for c in calibration) and calibration[1] > 0)
    if not ok:
        raise PaletteError(f"{where}: calibration: expected [offset keV, keV per channel > 0], got {calibration!r}")
    return float(calibration[0]), float(calibration[1])
