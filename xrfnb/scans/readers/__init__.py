"""Measured MA-XRF scans as heritage labs export them, behind one `read(path)`.

One module per format family; each says whether a library does the reading or the module itself does:

* `rsciio`: Bruker `.bcf` / `.spx`, ripple `.rpl` + `.raw` and EMSA `.msa` (RosettaSciIO);
* `spec`: SPEC/PyMca `.mca`, one or several MCAs (silx);
* `gse`: multi-element EPICS/GSECARS `.mca`, one calibration per detector (own reader);
* `amptek`: Amptek `.mca` (own reader);
* `ortec`: ORTEC/Maestro `.spe` (own reader);
* `text`: one- or two-column text spectra, including single-column `.mca` (numpy);
* `hdf5`: PyXRF, cronomaxrf, generic HDF5 cubes and `.npy` (h5py, numpy).

Cubes stay in their file and are read a block of rows at a time (`Rows`), so a scan's size is not
bounded by memory: HDF5 (h5py), `.npy` (memory-mapped), ripple `.raw` (memory-mapped) and Bruker `.bcf`
(RosettaSciIO's lazy reading). The other formats hold single spectra or small maps and are read whole.

The format is detected from the content. Every scan is checked the same way after reading: a few
negative channels (left by background or escape corrections) are clipped at zero and counted; a file
whose negative counts are a real share of its total is refused, with that share.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import amptek, gse, hdf5, ortec, rsciio, spec, text
from .base import (Cube, Options, Recorded, Rows, ScanError, ScanWarning, block_rows, edges, linear_axis,
                   needs_calibration, rebin_matrix, to_kev)

__all__ = ["Cube", "Options", "Recorded", "Rows", "ScanError", "block_rows", "ScanWarning", "FORMATS", "detect_format", "read",
           "check_cube", "edges", "linear_axis", "needs_calibration", "rebin_matrix", "to_kev"]

READERS: dict[str, Callable[[Path, Options], Cube]] = {
    "bruker-bcf": rsciio.read_bcf, "bruker-spx": rsciio.read_spx, "ripple": rsciio.read_ripple,
    "msa": rsciio.read_msa, "mca": spec.read_mca, "gse-mca": gse.read_gse, "amptek-mca": amptek.read_amptek,
    "ortec-spe": ortec.read_spe, "text": text.read_text, "pyxrf": hdf5.read_pyxrf, "crono": hdf5.read_crono,
    "hdf5": hdf5.read_hdf5, "npy": hdf5.read_npy}
FORMATS = tuple(READERS)
MULTI_DETECTOR = ("mca", "gse-mca")  # the formats that can hold several detectors
#: Negative counts (their sum against the positive counts' sum) above which a file is refused [choice]:
#: corrections leave a few slightly negative channels; more than this is a file that is not counts.
NEGATIVE_SHARE = 0.01

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
            return hdf5.layout(path) if fmt == "hdf5" else fmt
    content = head.decode("latin-1")
    if "TRTSpectrum" in content:
        return "bruker-spx"
    if content.lstrip().upper().startswith("#FORMAT") and "EMSA" in content.upper():
        return "msa"
    if amptek.SIGNATURE in content:
        return "amptek-mca"
    if content.lstrip().startswith(ortec.SIGNATURE):
        return "ortec-spe"
    if "#@MCA" in content or "\n@A" in content:
        return "mca"
    if gse.SIGNATURE in content and "CHANNELS:" in content:
        return "gse-mca"
    if path.suffix.lower() == ".rpl" and "data-type" in content and "record-by" in content:
        return "ripple"
    if text.looks_like(content):
        return "text"
    raise ScanError(f"{path}: not a scan in any known format ({', '.join(FORMATS)})")


def read(path: str | Path, format: str | None = None, calibration: tuple[float, float] | None = None,
         detector: int | None = None) -> Cube:
    """Read a scan in any supported format and check it.

    Parameters
    ----------
    path : the scan file (for `.rpl`, the `.raw` beside it holds the counts).
    format : the format the caller expects; refused if the file is of another (None: detected).
    calibration : (offset keV, keV per channel) for files that store no energy axis (e.g. `.npy`).
    detector : which detector of a multi-element file (0-based; None: all, summed on one axis).
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
        if detector is not None and found not in MULTI_DETECTOR:
            raise ScanError(f"{path}: a {found} file holds one detector; --detector is for "
                            f"{' and '.join(MULTI_DETECTOR)} files")
        return check_cube(READERS[found](path, Options(calibration, detector)), path)
    except (ScanError, RuntimeError):
        raise
    except Exception as err:  # a corrupt file fails inside the library in its own way: name it, on one line
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ScanError(f"{path}: not a readable {found} file ({type(err).__name__}: {detail})") from None


def check_cube(cube: Cube, where: str | Path) -> Cube:
    """The scan, checked: refuse no pixels or channels, a non-increasing axis, NaN, or counts that are not
    counts; clip a few negative channels at zero, counted in `Cube.negative` and said in its notes.

    A scan left in its file (`Rows`) is checked block by block and clipped as its blocks are read; unsigned
    integer counts need no check of their values.
    """
    counts = cube.counts if isinstance(cube.counts, Rows) else np.asarray(cube.counts)
    shape = tuple(counts.shape)
    if len(shape) != 3 or 0 in shape:
        raise ScanError(f"{where}: {shape} counts; a scan needs rows x cols x channels, none zero")
    if cube.energy.shape != (shape[2],):
        raise ScanError(f"{where}: energy axis has {cube.energy.size} values for {shape[2]} channels")
    if not np.isfinite(cube.energy).all() or (np.diff(cube.energy) <= 0).any():
        raise ScanError(f"{where}: the energy calibration is not increasing "
                        f"({cube.energy[0]:.4g} to {cube.energy[-1]:.4g} keV)")
    cube = replace(cube, counts=counts, negative={})
    if np.issubdtype(counts.dtype, np.unsignedinteger):
        return cube
    values, lost, kept = _negatives(cube, where)
    if not values:
        return cube
    share = lost / kept if kept > 0 else float("inf")
    if share > NEGATIVE_SHARE:
        raise ScanError(f"{where}: negative counts, {100 * share:.3g} % of the positive counts "
                        f"(more than {100 * NEGATIVE_SHARE:g} %: not a spectrum of counts)")
    note = f"{where}: {values} negative values ({lost:g} counts, {100 * share:.2g} % of the total) clipped to 0"
    return replace(cube, counts=counts if isinstance(counts, Rows) else np.clip(counts, 0, None),
                   notes=(*cube.notes, note), negative={"values": values, "counts": lost, "share": share})


def _negatives(cube: Cube, where: str | Path) -> tuple[int, float, float]:
    """(negative values, their counts, the positive counts) of a scan, block by block; NaN is refused."""
    values, lost, kept = 0, 0.0, 0.0
    floating = np.issubdtype(cube.counts.dtype, np.floating)
    for _, block in cube.blocks():
        if floating and not np.isfinite(block).all():
            raise ScanError(f"{where}: NaN or infinite counts")
        negative = block < 0
        below = -float(block[negative].sum()) if negative.any() else 0.0
        values, lost, kept = values + int(negative.sum()), lost + below, kept + float(block.sum(dtype=float)) + below
    return values, lost, kept
