"""Bruker (`.bcf` hypermaps, `.spx` spectra), ripple (`.rpl` + `.raw`) and EMSA/MAS `.msa`, through
RosettaSciIO (the optional extra `xrfnb[scans]`; GPL-3). Hypermaps (`.bcf`, ripple) are read lazily,
a block of rows at a time; `.spx` and `.msa` spectra are read whole.

The instrument comes from RosettaSciIO's metadata (beam energy, resolution at Mn K alpha); a `.spx`'s
XRF header also names the tube's anode, which RosettaSciIO leaves out, so it is read from the XML here.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from importlib import import_module
from pathlib import Path

import numpy as np

from .base import Cube, Options, Recorded, Rows, ScanError, anode_symbol, linear_axis, needs_calibration, to_kev


def _library(module: str):
    """A RosettaSciIO reader, or an error saying how to install it."""
    try:
        return import_module(f"rsciio.{module}")
    except ImportError:
        raise RuntimeError("reading Bruker, ripple and MSA files needs RosettaSciIO: "
                           "pip install 'xrfnb[scans]'") from None


def _file_reader(module: str, path: Path, **options) -> list[dict]:
    """RosettaSciIO's reader for `path`, with its log quiet: what it would log about a bad file (some of it
    as a logging traceback) reaches the user as the one-line error the file's failure raises."""
    library = _library(module)  # imported first: importing RosettaSciIO sets its log's level
    log = logging.getLogger("rsciio")
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        return library.file_reader(str(path), **options)
    finally:
        log.setLevel(level)


def recorded(metadata: dict, anode: str | None = None) -> Recorded:
    """Tube voltage, resolution and detector from RosettaSciIO's `Acquisition_instrument` metadata."""
    acquisition = next(iter(metadata.get("Acquisition_instrument", {}).values()), {})
    eds = acquisition.get("Detector", {}).get("EDS", {})
    kv, fwhm = acquisition.get("beam_energy"), eds.get("energy_resolution_MnKa")
    return Recorded(anode=anode, tube_kv=float(kv) if kv else None, fwhm_ev=float(fwhm) if fwhm else None,
                    detector=eds.get("detector_type"))


def signal_cube(signal: dict, fmt: str, path: Path, anode: str | None = None) -> Cube:
    """A RosettaSciIO signal (data + axes) as a cube, its signal axis calibrated in keV."""
    data = signal["data"]  # a dask array where the file is read lazily (ripple, .bcf)
    axes = sorted(signal["axes"], key=lambda a: a.get("index_in_array", 0))
    spectral = [k for k, a in enumerate(axes) if not a.get("navigate", False)]
    if len(spectral) != 1 or spectral[0] != data.ndim - 1:
        raise ScanError(f"{path}: not a spectrum image (signal axes {spectral} of {data.ndim})")
    axis = axes[-1]
    energy = linear_axis(data.shape[-1], float(axis["offset"]), float(axis["scale"]))
    energy, notes = to_kev(energy, axis.get("units"), str(path))
    data = data.reshape((1,) * (3 - data.ndim) + tuple(data.shape))
    counts = (np.asarray(data) if isinstance(data, np.ndarray) else
              Rows(data.shape, data.dtype, lambda start, stop: np.asarray(data[start:stop]), path))
    return Cube(counts, energy, fmt, notes, recorded(signal.get("metadata", {}), anode))


def read_bcf(path: Path, options: Options) -> Cube:
    signals = _file_reader("bruker", path, select_type="spectrum_image", lazy=True)
    if not signals:
        raise ScanError(f"{path}: the .bcf holds no hypermap")
    return signal_cube(signals[0], "bruker-bcf", path)


def spx_anode(path: Path) -> str | None:
    """The anode named in a `.spx`'s XRF header (`<Anode>`, a symbol or an atomic number), if any."""
    node = ET.parse(path).getroot().find(".//ClassInstance[@Type='TRTXrfHeader']/Anode")
    return anode_symbol(node.text) if node is not None else None


def read_spx(path: Path, options: Options) -> Cube:
    return signal_cube(_file_reader("bruker", path)[0], "bruker-spx", path, spx_anode(path))


def read_ripple(path: Path, options: Options) -> Cube:
    signal = _file_reader("ripple", path, lazy=True)[0]
    info = signal["original_metadata"]
    spectral = signal["axes"][-1]
    if "depth-scale" not in info and "ev-per-chan" not in info:
        if options.calibration is None:
            raise needs_calibration(path, "a ripple file without depth-scale or ev-per-chan")
        spectral.update(offset=options.calibration[0], scale=options.calibration[1], units="keV")
    elif "depth-units" not in info:
        spectral["units"] = "eV"  # ripple's own calibration key is ev-per-chan
    return signal_cube(signal, "ripple", path)


def read_msa(path: Path, options: Options) -> Cube:
    return signal_cube(_file_reader("msa", path)[0], "msa", path)
