"""Plain text spectra as PyMca reads them: one column (counts per channel) or two (channel or energy,
then counts), separated by spaces, tabs, commas or semicolons, after any header or `#` comment lines.
A single-column `.mca` is such a file. Read with numpy; only the layout detection is this module's.

One column, or a first column of consecutive channel numbers, carries no energy axis: the calibration
must come from the caller. A first column of energies is read in keV, or eV when its values say so.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import Cube, Options, ScanError, linear_axis, needs_calibration, to_kev

_SPLIT = re.compile(r"[\s,;]+")


def rows(text: str) -> list[list[float]] | None:
    """The numeric rows after any leading header lines, or None if the file is not numbers in columns."""
    out: list[list[float]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#%;!":
            continue
        try:
            out.append([float(v) for v in _SPLIT.split(line) if v])
        except ValueError:
            if out:  # text after the numbers began: not a column file
                return None
    return out if out and len({len(r) for r in out}) == 1 and len(out[0]) in (1, 2) else None


def looks_like(text: str) -> bool:
    """Whether a file's first few kilobytes read as one or two numeric columns."""
    lines = text.splitlines()[:-1] or text.splitlines()  # the last line may be cut mid-way
    return rows("\n".join(lines)) is not None and len(lines) >= 8


def read_text(path: Path, options: Options) -> Cube:
    table = rows(path.read_text(encoding="latin-1"))
    if table is None:
        raise ScanError(f"{path}: not one or two numeric columns throughout")
    data = np.array(table, dtype=float)
    counts = data[:, -1]
    channels = data.shape[1] == 1 or np.allclose(np.diff(data[:, 0]), 1.0)
    notes: tuple[str, ...] = ()
    if options.calibration is not None:
        energy = linear_axis(len(counts), *options.calibration)
    elif channels:
        what = "a one-column text spectrum" if data.shape[1] == 1 else "a text spectrum of channel numbers"
        raise needs_calibration(path, what)
    else:
        energy, notes = to_kev(data[:, 0], None, str(path))
    return Cube(counts[None, None], energy, "text", notes)
