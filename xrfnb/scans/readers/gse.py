"""Multi-element `.mca` files in the EPICS/GSECARS layout (`VERSION:`, `ELEMENTS:`, `CAL_OFFSET:`, ...,
`DATA:` then one row per channel, one column per detector). No library in this environment reads them
(silx and RosettaSciIO do not; xraylarch does, but is not a dependency), so this module does.

Each detector has its own calibration: keV = CAL_OFFSET + CAL_SLOPE * channel + CAL_QUAD * channel^2.
The detectors are summed on the first one's axis, or one is picked (`Options.detector`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Cube, Options, ScanError, detectors, linear_axis, needs_calibration

SIGNATURE = "ELEMENTS:"


def header(lines: list[str]) -> tuple[dict[str, list[str]], int]:
    """The `KEY: values` lines before `DATA:` and the index of the first data line."""
    fields: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        key, sep, value = line.partition(":")
        if key.strip() == "DATA":
            return fields, i + 1
        if sep:
            fields.setdefault(key.strip(), value.split())
    raise ScanError("no DATA: section")


def read_gse(path: Path, options: Options) -> Cube:
    lines = path.read_text(encoding="latin-1").splitlines()
    fields, start = header(lines)
    n = int(fields["ELEMENTS"][0])
    data = np.loadtxt(lines[start:], ndmin=2)
    if data.shape[1] != n:
        raise ScanError(f"{path}: {data.shape[1]} data columns for ELEMENTS: {n}")
    if "CAL_OFFSET" not in fields or "CAL_SLOPE" not in fields:
        if options.calibration is None:
            raise needs_calibration(path, "a multi-element .mca without CAL_OFFSET/CAL_SLOPE")
        cal = [(options.calibration[0], options.calibration[1], 0.0)] * n
    else:
        quad = fields.get("CAL_QUAD", ["0"] * n)
        cal = [(float(o), float(s), float(q)) for o, s, q in zip(fields["CAL_OFFSET"], fields["CAL_SLOPE"], quad)]
        if len(cal) != n:
            raise ScanError(f"{path}: {len(cal)} calibrations for ELEMENTS: {n}")
    axes = [linear_axis(len(data), *c) for c in cal]
    spectrum, energy, notes = detectors(list(data.T), axes, options.detector, path)
    return Cube(spectrum[None, None], energy, "gse-mca", notes)
