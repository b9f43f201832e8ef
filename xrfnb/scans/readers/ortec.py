"""ORTEC/Maestro ASCII `.spe` spectra (`$SPEC_ID:`, `$DATA:` first last, then one count per line, and
`$MCA_CAL:` or `$ENER_FIT:` calibrations), the layout of PyMca's example `.spe` files. No library in this
environment reads them (fabio's `.spe` is Princeton Instruments' CCD image format), so this module does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Cube, Options, ScanError, linear_axis, needs_calibration, to_kev

SIGNATURE = "$SPEC_ID:"


def sections(text: str) -> dict[str, list[str]]:
    """The file's `$NAME:` sections and their lines."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("$"):
            current = line[1:].split(":")[0].strip()
            out[current] = []
        elif current is not None and line.strip():
            out[current].append(line.strip())
    return out


def calibration(parts: dict[str, list[str]], n: int, where: str) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """The energy axis from `$MCA_CAL:` (a count line, then coefficients and a unit) or `$ENER_FIT:` (keV)."""
    if len(parts.get("MCA_CAL", [])) >= 2:
        fields = parts["MCA_CAL"][1].split()
        values = [float(v) for v in fields if _number(v)]
        unit = next((v for v in fields if not _number(v)), None)
        values += [0.0] * (3 - len(values))
        if values[1] != 0:
            return to_kev(linear_axis(n, *values[:3]), unit, where)
    if parts.get("ENER_FIT"):
        offset, gain = (float(v) for v in parts["ENER_FIT"][0].split()[:2])
        if gain != 0:
            return linear_axis(n, offset, gain), ()
    return None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_spe(path: Path, options: Options) -> Cube:
    parts = sections(path.read_text(encoding="latin-1"))
    if not parts.get("DATA"):
        raise ScanError(f"{path}: an ORTEC .spe without a $DATA: section")
    first, last = (int(v) for v in parts["DATA"][0].split()[:2])
    counts = np.array([float(v) for line in parts["DATA"][1:] for v in line.split()])
    if len(counts) != last - first + 1:
        raise ScanError(f"{path}: $DATA: announces channels {first}-{last}, holds {len(counts)} values")
    if options.calibration is not None:
        energy, notes = linear_axis(len(counts), *options.calibration), ()
    else:
        found = calibration(parts, len(counts), str(path))
        if found is None:
            raise needs_calibration(path, "an ORTEC .spe without $MCA_CAL: or $ENER_FIT:")
        energy, notes = found
    return Cube(counts[None, None], energy, "ortec-spe", notes)
