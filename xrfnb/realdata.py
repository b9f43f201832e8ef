"""Measured MA-XRF scans: read the formats heritage labs produce, recolour them, and explain them.

`load_cube` reads a scan with the field's own libraries and detects its format from the file:

* Bruker M6 Jetstream / M4 Tornado exports, `.bcf` hypermaps, `.spx` spectra and `.rpl` + `.raw` cubes,
  through RosettaSciIO (the optional extra `xrfnb[scans]`; GPL-3);
* EMSA/MAS `.msa` spectra through RosettaSciIO, and SPEC/PyMca `.mca` spectra through silx;
* PyXRF's HDF5 (`xrfmap/detsum/counts`, calibrated by `e_offset`, `e_linear`, `e_quadratic`), cronomaxrf's
  gridified HDF5 (`/spectra` + `/energies`) and any HDF5 or `.npy` cube with an energy axis (h5py, numpy).

A single spectrum is a one-pixel scan. `recolour` resamples a scan onto the trained models' energy axis,
embeds it with the run's DVE, recolours it with the run's SmallUViT, and explains it independently of both
models: element maps at xraylib's line energies and a non-negative least-squares unmixing against the
palette. The models are trained on synthetic spectra only: on a real painting the recolouring needs the
domain adaptation the paper lists as future work, which is why the explanation maps come with it.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np
import xraylib as xr
from scipy.optimize import nnls

from . import dve, physics, plots
from .io import atomic_dir, write_json
from .pigments import Palette
from .recolour import Recolouring, predict
from .recolour import load as load_recolouring

FORMATS = ("bruker-bcf", "bruker-spx", "ripple", "msa", "mca", "pyxrf", "crono", "hdf5", "npy")
GANX_RANGE = (0.5, 38.5)  # keV: the ganx layout's axis when a file stores none


class ScanError(ValueError):
    """A scan that cannot be read or used; the message names the file and what is wrong, on one line."""


class ScanWarning(UserWarning):
    """Something about a scan that the recolouring works around, recorded in its report."""


@dataclass(frozen=True)
class Cube:
    """A measured scan: counts (rows, cols, channels), the channel centres in keV, and the format read."""

    counts: np.ndarray
    energy: np.ndarray
    format: str = "hdf5"
    notes: tuple[str, ...] = field(default=())  # what the reader assumed (e.g. units), as warnings


# ---------------------------------------------------------------------------------------------- reading

_SIGNATURES = {b"\x89HDF\r\n\x1a\n": "hdf5", b"\x93NUMPY": "npy", b"AAMVHFSS": "bruker-bcf"}


def detect_format(path: str | Path) -> str:
    """The format of a scan file, from its content (signature, layout) rather than its name alone."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        raise ScanError(f"{path}: empty file")
    for signature, fmt in _SIGNATURES.items():
        if head.startswith(signature):
            return _hdf5_layout(path) if fmt == "hdf5" else fmt
    text = head.decode("latin-1")
    if "TRTSpectrum" in text:
        return "bruker-spx"
    if text.lstrip().upper().startswith("#FORMAT") and "EMSA" in text.upper():
        return "msa"
    if "#@MCA" in text or "\n@A" in text:
        return "mca"
    if "<<PMCA SPECTRUM>>" in text:
        raise ScanError(f"{path}: an Amptek .mca file; only SPEC/PyMca .mca files are read (through silx)")
    if path.suffix.lower() == ".rpl" and "data-type" in text and "record-by" in text:
        return "ripple"
    raise ScanError(f"{path}: not a scan in any known format ({', '.join(FORMATS)})")


def _hdf5_layout(path: Path) -> str:
    """Which HDF5 layout: PyXRF's, cronomaxrf's gridified one, or a generic cube."""
    with h5py.File(path, "r") as h5:
        if "xrfmap/detsum/counts" in h5:
            return "pyxrf"
        if "spectra" in h5 and "energies" in h5:
            return "crono"
    return "hdf5"


def load_cube(path: str | Path, format: str | None = None,
              calibration: tuple[float, float] | None = None) -> Cube:
    """Read a scan in any supported format and check it.

    Parameters
    ----------
    path : the scan file (for `.rpl`, the `.raw` beside it holds the counts).
    format : the format the caller expects; refused if the file is of another (None: detected).
    calibration : (offset keV, keV per channel) for files that store no energy axis (e.g. `.npy`).
    """
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise ScanError(f"{path}: unknown format {format!r} (known: {', '.join(FORMATS)})")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such scan file")
    found = "scan"
    try:
        found = detect_format(path)
        if format is not None and format != found:
            raise ScanError(f"{path}: the file is {found!r}, not {format!r}")
        cube = _READERS[found](path, calibration)
    except (ScanError, RuntimeError):
        raise
    except Exception as err:  # a corrupt file fails inside the library in its own way: name it, on one line
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ScanError(f"{path}: not a readable {found} file ({type(err).__name__}: {detail})") from None
    check_cube(cube, path)
    return cube


def check_cube(cube: Cube, where: str | Path) -> None:
    """Refuse what cannot be a scan: no pixels or channels, a non-increasing axis, NaN or negative counts."""
    if cube.counts.ndim != 3 or 0 in cube.counts.shape:
        raise ScanError(f"{where}: {cube.counts.shape} counts; a scan needs rows x cols x channels, none zero")
    if cube.energy.shape != (cube.counts.shape[2],):
        raise ScanError(f"{where}: energy axis has {cube.energy.size} values for {cube.counts.shape[2]} channels")
    if not np.isfinite(cube.energy).all() or (np.diff(cube.energy) <= 0).any():
        raise ScanError(f"{where}: the energy calibration is not increasing "
                         f"({cube.energy[0]:.4g} to {cube.energy[-1]:.4g} keV)")
    if not np.isfinite(cube.counts).all():
        raise ScanError(f"{where}: NaN or infinite counts")
    if (cube.counts < 0).any():
        raise ScanError(f"{where}: negative counts")


def linear_axis(n: int, offset: float, gain: float, quadratic: float = 0.0) -> np.ndarray:
    """Channel centres offset + gain * i + quadratic * i^2 (keV) of an n-channel detector."""
    i = np.arange(n, dtype=float)
    return offset + gain * i + quadratic * i ** 2


def to_kev(values: np.ndarray, units: str | None, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """An energy axis in keV, from eV or keV; without units, eV is assumed above 200 (and said so)."""
    unit = (units or "").strip().lower()
    if unit == "kev":
        return values, ()
    if unit == "ev":
        return values * 1e-3, ()
    if unit:
        raise ScanError(f"{where}: energy units {units!r} are neither eV nor keV")
    guess = "eV" if values.size and np.nanmax(np.abs(values)) > 200 else "keV"
    return (values * 1e-3 if guess == "eV" else values), (f"{where}: no energy units stored; read as {guess}",)


def _signal_cube(signal: dict, fmt: str, path: Path) -> Cube:
    """A RosettaSciIO signal (data + axes) as a cube, its signal axis calibrated in keV."""
    data = np.asarray(signal["data"])
    axes = sorted(signal["axes"], key=lambda a: a.get("index_in_array", 0))
    spectral = [k for k, a in enumerate(axes) if not a.get("navigate", False)]
    if len(spectral) != 1 or spectral[0] != data.ndim - 1:
        raise ScanError(f"{path}: not a spectrum image (signal axes {spectral} of {data.ndim})")
    axis = axes[-1]
    energy = linear_axis(data.shape[-1], float(axis["offset"]), float(axis["scale"]))
    energy, notes = to_kev(energy, axis.get("units"), str(path))
    return Cube(data.reshape((1,) * (3 - data.ndim) + data.shape), energy, fmt, notes)


def _rsciio(module: str):
    """A RosettaSciIO reader, or an error saying how to install it."""
    from importlib import import_module

    try:
        return import_module(f"rsciio.{module}")
    except ImportError:
        raise RuntimeError("reading Bruker, ripple and MSA files needs RosettaSciIO: "
                           "pip install 'xrfnb[scans]'") from None


def _read_bcf(path: Path, calibration: tuple[float, float] | None) -> Cube:
    signals = _rsciio("bruker").file_reader(str(path), select_type="spectrum_image")
    if not signals:
        raise ScanError(f"{path}: the .bcf holds no hypermap")
    return _signal_cube(signals[0], "bruker-bcf", path)


def _read_spx(path: Path, calibration: tuple[float, float] | None) -> Cube:
    return _signal_cube(_rsciio("bruker").file_reader(str(path))[0], "bruker-spx", path)


def _read_ripple(path: Path, calibration: tuple[float, float] | None) -> Cube:
    signal = _rsciio("ripple").file_reader(str(path))[0]
    info = signal["original_metadata"]
    spectral = signal["axes"][-1]
    if "depth-scale" not in info and "ev-per-chan" not in info:
        if calibration is None:
            raise ScanError(f"{path}: no energy calibration (depth-scale or ev-per-chan); pass one")
        spectral.update(offset=calibration[0], scale=calibration[1], units="keV")
    elif "depth-units" not in info:
        spectral["units"] = "eV"  # ripple's own calibration key is ev-per-chan
    return _signal_cube(signal, "ripple", path)


def _read_msa(path: Path, calibration: tuple[float, float] | None) -> Cube:
    return _signal_cube(_rsciio("msa").file_reader(str(path))[0], "msa", path)


def _read_mca(path: Path, calibration: tuple[float, float] | None) -> Cube:
    """A SPEC/PyMca .mca spectrum through silx: its first MCA, calibrated by #@CALIB a b c over #@CHANN."""
    import silx.io

    with silx.io.open(str(path)) as spec:
        scan = next(iter(spec.values()))
        mca = scan["measurement/mca_0"]
        counts = np.asarray(mca["data"][()], dtype=float)[0]
        a, b, c = (float(v) for v in mca["info/calibration"][()])
        channels = np.asarray(mca["info/channels"][()], dtype=float)
    if calibration is not None:
        a, b, c = calibration[0], calibration[1], 0.0
    elif (a, b, c) == (0.0, 1.0, 0.0):
        raise ScanError(f"{path}: no #@CALIB energy calibration; pass one")
    return Cube(counts[None, None], a + b * channels + c * channels ** 2, "mca")


def _read_pyxrf(path: Path, calibration: tuple[float, float] | None) -> Cube:
    """PyXRF's layout: counts (rows, cols, channels); e_offset, e_linear (e_quadratic) in keV as attributes."""
    with h5py.File(path, "r") as h5:
        counts = h5["xrfmap/detsum/counts"][()]
        places = [h5["xrfmap/detsum/counts"].attrs, h5["xrfmap/detsum"].attrs]
        if "xrfmap/scan_metadata" in h5:
            places.append(h5["xrfmap/scan_metadata"].attrs)
        attrs = next((dict(a) for a in places if "e_offset" in a and "e_linear" in a), None)
    if attrs is not None:
        offset, gain, quad = attrs["e_offset"], attrs["e_linear"], attrs.get("e_quadratic", 0.0)
    elif calibration is not None:
        (offset, gain), quad = calibration, 0.0
    else:
        raise ScanError(f"{path}: no e_offset/e_linear attributes (PyXRF keeps them in its parameter JSON); "
                         f"pass the calibration")
    return Cube(counts, linear_axis(counts.shape[2], float(offset), float(gain), float(quad)), "pyxrf")


def _read_crono(path: Path, calibration: tuple[float, float] | None) -> Cube:
    """cronomaxrf's gridified file: `/spectra` (rows, cols, channels) and `/energies` (channels)."""
    with h5py.File(path, "r") as h5:
        counts, energies = h5["spectra"][()], h5["energies"][()].astype(float)
        units = h5["energies"].attrs.get("units")
    energy, notes = to_kev(energies.ravel(), units, str(path))
    return Cube(counts, energy, "crono", notes)


def _read_hdf5(path: Path, calibration: tuple[float, float] | None) -> Cube:
    """A generic cube: dataset `img` (the ganx layout) or the file's only 3-D dataset, with an energy axis
    as dataset `energy`, an `energy` attribute, or `e_offset`/`e_linear` attributes (keV)."""
    with h5py.File(path, "r") as h5:
        cubes = []
        h5.visititems(lambda name, obj: cubes.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim == 3
                      else None)
        name = "img" if "img" in cubes else cubes[0] if len(cubes) == 1 else None
        if name is None:
            raise ScanError(f"{path}: {len(cubes)} three-dimensional datasets ({', '.join(cubes)}); "
                             f"expected one, or one named 'img'")
        data = h5[name]
        counts, attrs = data[()], {**h5.attrs, **data.attrs}
        units = attrs.get("units")
        if "energy" in h5:
            axis = h5["energy"][()].astype(float)
            units = h5["energy"].attrs.get("units", units)
        elif "energy" in attrs:
            axis = np.asarray(attrs["energy"], dtype=float)
        elif "e_offset" in attrs and "e_linear" in attrs:
            axis, units = linear_axis(counts.shape[2], float(attrs["e_offset"]), float(attrs["e_linear"])), "keV"
        elif calibration is not None:
            axis, units = linear_axis(counts.shape[2], *calibration), "keV"
        elif name == "img":
            lo, hi = GANX_RANGE
            axis, units = lo + (hi - lo) / counts.shape[2] * (np.arange(counts.shape[2]) + 0.5), "keV"
            return Cube(counts, axis, "hdf5", (f"{path}: no energy axis stored; assumed the ganx layout's "
                                               f"{lo}-{hi} keV",))
        else:
            raise ScanError(f"{path}: no energy axis (dataset 'energy', attribute 'energy', or "
                             f"'e_offset'/'e_linear'); pass the calibration")
    energy, notes = to_kev(axis.ravel(), units, str(path))
    return Cube(counts, energy, "hdf5", notes)


def _read_npy(path: Path, calibration: tuple[float, float] | None) -> Cube:
    """A bare (rows, cols, channels) array: the calibration must come from the caller."""
    counts = np.load(path, allow_pickle=False)
    if calibration is None:
        raise ScanError(f"{path}: a .npy cube carries no energy axis; pass the calibration (offset, keV/channel)")
    if counts.ndim != 3:
        raise ScanError(f"{path}: array of shape {counts.shape}; expected rows x cols x channels")
    return Cube(counts, linear_axis(counts.shape[2], *calibration), "npy")


_READERS: dict[str, Callable[[Path, tuple[float, float] | None], Cube]] = {
    "bruker-bcf": _read_bcf, "bruker-spx": _read_spx, "ripple": _read_ripple, "msa": _read_msa,
    "mca": _read_mca, "pyxrf": _read_pyxrf, "crono": _read_crono, "hdf5": _read_hdf5, "npy": _read_npy}


# ------------------------------------------------------------------------------------ onto the model's axis

def edges(centres: np.ndarray) -> np.ndarray:
    """Channel edges halfway between centres (the end channels as wide as their neighbours)."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])  # one channel: no width to go by
    w = np.diff(centres)
    return np.concatenate([[centres[0] - w[0] / 2], centres[:-1] + w / 2, [centres[-1] + w[-1] / 2]])


def rebin_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(E_source, E_target) share of each source channel that falls in each target channel.

    Counts are spread evenly within a source channel, so a row sums to the part of that channel inside the
    target's range: counts are conserved there, and what lies outside is dropped.
    """
    s, t = edges(source), edges(target)
    overlap = np.minimum(s[1:, None], t[None, 1:]) - np.maximum(s[:-1, None], t[None, :-1])
    return np.clip(overlap, 0, None) / np.diff(s)[:, None]


def rebin(cube: Cube, target: np.ndarray) -> np.ndarray:
    """Counts (rows, cols, E_target) on the `target` channel centres, conserving counts.

    Where the scan covers only part of the target's range the missing channels are zero, and a
    `ScanWarning` says so; so does a scan whose counts reach beyond the target's range.
    """
    matrix = rebin_matrix(cube.energy, target)
    out = np.stack([row.astype(np.float64) @ matrix for row in cube.counts])
    s, t = edges(cube.energy), edges(target)
    if s[0] > t[0] + 1e-9 or s[-1] < t[-1] - 1e-9:
        warnings.warn(f"the scan covers {s[0]:.2f}-{s[-1]:.2f} keV, the model {t[0]:.2f}-{t[-1]:.2f} keV: the "
                      f"model's channels outside the scan are zero", ScanWarning, stacklevel=2)
    total = float(cube.counts.sum())
    dropped = 1 - out.sum() / total if total > 0 else 0.0
    if dropped > 0.01:
        warnings.warn(f"{100 * dropped:.1f} % of the counts lie outside the model's {t[0]:.2f}-{t[-1]:.2f} keV "
                      f"and are left out", ScanWarning, stacklevel=2)
    return out


def covered(cube: Cube, target: np.ndarray) -> np.ndarray:
    """Which target channels lie wholly inside the scan's energy range."""
    s, t = edges(cube.energy), edges(target)
    return (t[:-1] >= s[0] - 1e-9) & (t[1:] <= s[-1] + 1e-9)


def thin_to(counts: np.ndarray, target: float, tolerance: float, seed: int = 0) -> np.ndarray:
    """Counts whose median per pixel is within `tolerance` x of `target`, by binomial thinning if above.

    The DVE's input is each spectrum divided by its total, so scaling counts changes nothing; what differs
    with the counts is the noise. Thinning (keeping each photon with probability p) gives a scan the
    training data's noise level. A scan below the training counts cannot be given photons it lacks: it is
    left as it is, with a warning.
    """
    median = float(np.median(counts.sum(-1)))
    if median > tolerance * target:
        p = target / median
        warnings.warn(f"{median:.0f} counts per pixel (median) against the training {target:.0f}: each photon "
                      f"kept with probability {p:.3g} to match the training noise", ScanWarning, stacklevel=2)
        rng = np.random.default_rng(seed)
        return rng.binomial(np.rint(counts).astype(np.int64), p).astype(np.float64)
    if median < target / tolerance:
        warnings.warn(f"{median:.0f} counts per pixel (median) against the training {target:.0f}: the spectra "
                      f"are noisier than any the DVE saw", ScanWarning, stacklevel=2)
    return counts


def recolour_counts(counts: np.ndarray, dve_model: dve.DVE, module: Recolouring,
                    device: str = "cpu") -> np.ndarray:
    """RGB (rows, cols, 3) in [0, 1] for counts already on the model's axis: embed, then recolour by tiles.

    An empty pixel gets a flat spectrum (the DVE needs counts). The embedded image is reflect-padded to a
    multiple of the model's image size and cut into tiles that size.
    """
    empty = counts.sum(-1) <= 0
    if empty.any():
        warnings.warn(f"{int(empty.sum())} pixels have no counts on the model's axis: embedded as flat spectra",
                      ScanWarning, stacklevel=2)
        counts = counts + empty[..., None] / counts.shape[-1]
    h, w, e = counts.shape
    image = dve.encode(dve_model, counts.reshape(-1, e).astype(np.float32), device=device)
    image = image.reshape(h, w, -1).transpose(2, 0, 1)
    s = module.cfg.model.image_size
    ph, pw = -h % s, -w % s
    padded = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > 1 else "edge")
    positions = [(r, c) for r in range(0, h + ph, s) for c in range(0, w + pw, s)]
    pred = predict(module, np.stack([padded[:, r:r + s, c:c + s] for r, c in positions]), device=device)
    out = np.zeros((3, h + ph, w + pw), dtype=np.float32)
    for (r, c), tile in zip(positions, pred):
        out[:, r:r + s, c:c + s] = tile
    return out[:, :h, :w].transpose(1, 2, 0)


def recolour_cube(cube: Cube, dve_model: dve.DVE, module: Recolouring, energy: np.ndarray,
                  device: str = "cpu") -> np.ndarray:
    """RGB (rows, cols, 3) in [0, 1] for a scan: rebin onto `energy` (the model's axis), embed, recolour."""
    return recolour_counts(rebin(cube, energy), dve_model, module, device)


# ------------------------------------------------------------------------------------ explaining a scan

@dataclass(frozen=True)
class Line:
    """An element's line that stands out of the background of a scan's sum spectrum."""

    symbol: str
    label: str  # e.g. "Fe Ka"
    energy: float  # keV
    window: np.ndarray  # boolean mask of its channels
    net_fraction: float  # share of the window's counts above the background


#: The line tried for each element: K alpha1, else L alpha1, else M alpha1 (the first within the range).
CANDIDATE_LINES = (("Ka", xr.KL3_LINE), ("La", xr.L3M5_LINE), ("Ma", xr.M5N7_LINE))
#: Elements tried, Na to U [choice]: not krypton, xenon, the lanthanides, technetium or Po to Pa, which
#: paintings do not hold and whose lines would otherwise take the peaks of Mn, Fe, Pb and others.
ELEMENTS = tuple(z for z in range(11, 93) if z not in {36, 43, 54, *range(57, 72), *range(84, 92)})


def snip_background(spectrum: np.ndarray, width: int) -> np.ndarray:
    """SNIP background (Ryan et al. 1988): iterated clipping of the log-log-sqrt transformed spectrum."""
    v = np.log(np.log(np.sqrt(spectrum + 1) + 1) + 1)
    for k in range(width, 0, -1):
        mean = np.full_like(v, np.inf)
        mean[k:-k] = (v[:-2 * k] + v[2 * k:]) / 2
        v = np.minimum(v, mean)
    return (np.exp(np.exp(v) - 1) - 1) ** 2 - 1


def _line_energies(z: int, codes: tuple[int, ...], min_rate: float = 0.0) -> list[tuple[str, float]]:
    """(line name, keV) of the element's lines among `codes` that xraylib knows (with rate >= `min_rate`)."""
    out = []
    for code in codes:
        try:
            if min_rate and xr.RadRate(z, code) < min_rate:
                continue
            out.append((next((n for n, c in CANDIDATE_LINES if c == code), ""), xr.LineEnergy(z, code)))
        except ValueError:  # the element has no such line
            continue
    return out


def find_lines(spectrum: np.ndarray, energy: np.ndarray, usable: np.ndarray,
               detector: physics.Instrument = physics.Instrument(), sigmas: float = 5.0,
               min_share: float = 1e-3, e_floor: float = 1.0) -> list[Line]:
    """Elements whose line (xraylib energy) stands out of the SNIP background of a sum spectrum.

    Each element is tried at its first line within the range (K alpha1, else L alpha1, else M alpha1). A
    line stands out when its window (one FWHM each side) holds net counts above `sigmas` Poisson standard
    deviations of the background and above `min_share` of all counts, and the net spectrum peaks within an
    FWHM of it. Elements are accepted strongest first, and each claims the peaks of all its lines of the
    family found (K, L or M, radiative rate >= 1 %), so that a peak already explained (Fe K beta, Hg L l)
    is not read as another element (Co K alpha, Zn K alpha).
    """
    width = float(np.median(np.diff(energy)))
    fwhm_max = detector.fwhm_ev(float(energy[-1])) * 1e-3
    background = np.where(usable, snip_background(np.where(usable, spectrum, 0), max(2, round(2 * fwhm_max / width))),
                          0)
    net, total = spectrum - background, spectrum[usable].sum()
    lo, hi = energy[usable][[0, -1]] if usable.any() else (np.inf, -np.inf)

    def half_width(e: float) -> float:
        return max(detector.fwhm_ev(e) * 1e-3, width)

    candidates = []
    for z in ELEMENTS:
        name, e = next(((n, e) for n, e in _line_energies(z, tuple(c for _, c in CANDIDATE_LINES))
                        if max(lo, e_floor) <= e <= hi), ("", 0.0))
        if not name:
            continue
        window = usable & (np.abs(energy - e) <= half_width(e))
        around = usable & (np.abs(energy - e) <= 1.5 * half_width(e))
        signal, noise = net[window].sum(), np.sqrt(background[window].sum() + 1)
        peak = int(np.flatnonzero(around)[np.argmax(net[around])])
        if signal > sigmas * noise and signal > min_share * total and abs(energy[peak] - e) <= half_width(e):
            candidates.append((signal / noise, z, name, e, window, peak))
    claimed = np.zeros(len(energy), bool)
    found = []
    for _, z, name, e, window, peak in sorted(candidates, key=lambda c: -c[0]):
        if claimed[peak]:
            continue
        symbol = xr.AtomicNumberToSymbol(z)
        found.append(Line(symbol, f"{symbol} {name}", e, window, float(net[window].sum() / spectrum[window].sum())))
        codes, names = physics.iupac_lines()
        family = tuple(c for c, n in zip(codes, names) if n[0] == name[0])  # K, L or M lines
        for _, other in _line_energies(z, family, min_rate=0.01):
            claimed |= np.abs(energy - other) <= half_width(other)
    return sorted(found, key=lambda line: line.energy)


def element_maps(counts: np.ndarray, lines: list[Line]) -> dict[str, np.ndarray]:
    """Per-pixel net counts of each line: the window's counts times the sum spectrum's net share there."""
    return {line.label: counts[..., line.window].sum(-1) * line.net_fraction for line in lines}


def unmix(counts: np.ndarray, palette: Palette, usable: np.ndarray) -> np.ndarray:
    """Non-negative least-squares weights (rows, cols, P) of the palette's spectra in each pixel.

    Fitted on the channels the scan covers only, so a scan that stops short is not read as missing counts.
    """
    basis = palette.spectra[:, usable].T
    flat = counts[..., usable].reshape(-1, basis.shape[0])
    weights = np.stack([nnls(basis, pixel)[0] for pixel in flat])
    return weights.reshape(*counts.shape[:2], len(palette))


def dominant(weights: np.ndarray) -> np.ndarray:
    """Index of the pigment with the largest weight in each pixel; -1 where no pigment fits at all."""
    return np.where(weights.sum(-1) > 0, weights.argmax(-1), -1)


# ------------------------------------------------------------------------------------ the whole path

@dataclass(frozen=True)
class Run:
    """What recolouring needs from a run directory: the palette, both trained models, the training counts."""

    palette: Palette
    dve_model: dve.DVE
    module: Recolouring
    training_counts: float


def load_run(run: str | Path) -> Run:
    """Read a run directory (`palette.h5`, `dataset.h5`, `dve/dve.ckpt`, `smalluvit/best.ckpt`)."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    palette = Palette.load(run / "palette.h5")
    dve_model = dve.load(run / "dve" / "dve.ckpt", n_channels=len(palette.energy))
    module = load_recolouring(run / "smalluvit" / "best.ckpt")
    store = run / "dataset.h5"
    if not store.exists():
        raise FileNotFoundError(f"{store}: no dataset store (it holds the counts per pixel the models saw)")
    with h5py.File(store, "r") as h5:
        if "counts" not in h5:
            raise ValueError(f"{store}: no 'counts' dataset (counts per pixel of each sample)")
        training_counts = float(np.median(h5["counts"][()]))
    return Run(palette, dve_model.eval(), module, training_counts)


@contextmanager
def _recording() -> Iterator[list[str]]:
    """Collect the `ScanWarning`s raised inside the block (and show them as usual afterwards)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScanWarning)
        messages: list[str] = []
        yield messages
    for w in caught:
        if issubclass(w.category, ScanWarning):
            messages.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def recolour(scan: str | Path, run: str | Path, out: str | Path, format: str | None = None,
             calibration: tuple[float, float] | None = None, device: str = "cpu", counts_tolerance: float = 2.0,
             seed: int = 0) -> dict:
    """Recolour a measured scan with a run's models and explain it; returns the report.

    Writes into `out` (all or nothing): `recoloured.png`, `elements.png` (net counts at xraylib's line
    energies), `pigments.png` (the dominant pigment per pixel of a non-negative least-squares unmixing
    against the palette) and `report.json`.
    """
    scan, out = Path(scan), Path(out)
    models = load_run(run)
    cube = load_cube(scan, format, calibration)
    energy = models.palette.energy
    with _recording() as messages:
        for note in cube.notes:  # named by the scan's file name: a report should not carry a machine's paths
            warnings.warn(note.replace(str(scan.parent) + "/", ""), ScanWarning)
        counts = rebin(cube, energy)
        usable = covered(cube, energy)
        rgb = recolour_counts(thin_to(counts, models.training_counts, counts_tolerance, seed), models.dve_model,
                              models.module, device)
        lines = find_lines(counts.sum((0, 1)), energy, usable)
        maps = {"all counts": counts.sum(-1), **element_maps(counts, lines)}
        best = dominant(unmix(counts, models.palette, usable))
    names = models.palette.names
    report = {
        "scan": str(scan), "run": str(run), "format": cube.format,
        "shape": list(cube.counts.shape),
        "energy_keV": [float(cube.energy[0]), float(cube.energy[-1])],
        "counts_per_pixel": float(np.median(cube.counts.sum(-1))),
        "training_counts_per_pixel": models.training_counts,
        "elements": sorted({line.symbol for line in lines}, key=xr.SymbolToAtomicNumber),
        "lines_keV": {line.label: round(line.energy, 4) for line in lines},
        "pigments": {name: float((best == k).mean()) for k, name in enumerate(names) if (best == k).any()},
        "warnings": messages,
    }
    with atomic_dir(out) as tmp:
        plots.save(plots.mosaic([rgb], [f"recoloured {scan.name}"], ncols=1, size=5), tmp / "recoloured.png",
                   show=False)
        plots.save(plots.image_grid(maps), tmp / "elements.png", show=False)
        plots.save(plots.pigment_map(best, names, models.palette.rgb), tmp / "pigments.png", show=False)
        write_json(tmp / "report.json", report)
    return report
