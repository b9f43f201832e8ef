"""Amptek `.mca` spectra (DppMCA / ADMCA: `<<PMCA SPECTRUM>>` ... `<<DATA>>` ... `<<END>>`). No library in
this environment reads them (silx reads SPEC `.mca`, a different layout), so this module does.

The energy axis is a straight line through the `<<CALIBRATION>>` section's (channel, energy) points, in
the unit its `LABEL` names; the detector is the `<<DPP STATUS>>` section's `Device Type`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Cube, Options, Recorded, ScanError, calibrate, linear_axis, needs_calibration, to_kev

SIGNATURE = "<<PMCA SPECTRUM>>"


def sections(text: str) -> dict[str, list[str]]:
    """The file's `<<NAME>>` sections and their lines (a section ends where the next begins)."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("<<") and line.endswith(">>"):
            current = line[2:-2].strip()
            out.setdefault(current, [])
        elif current is not None and line:
            out[current].append(line)
    return out


def read_amptek(path: Path, options: Options) -> Cube:
    parts = sections(path.read_text(encoding="latin-1"))
    if "DATA" not in parts:
        raise ScanError(f"{path}: an Amptek .mca without a <<DATA>> section")
    counts = np.array([float(v) for v in parts["DATA"]])
    status = dict(line.split(":", 1) for line in parts.get("DPP STATUS", []) if ":" in line)
    device = status.get("Device Type", "").strip() or None
    notes: tuple[str, ...] = ()
    calibration = parts.get("CALIBRATION", [])
    points = [tuple(float(v) for v in line.split()[:2]) for line in calibration if not line.startswith("LABEL")]
    if options.calibration is not None:
        energy = linear_axis(len(counts), *options.calibration)
    elif len(points) >= 2:
        label = next((line.split("-", 1)[1].strip() for line in calibration if line.startswith("LABEL")), None)
        energy = calibrate(len(counts), points, str(path))
        energy, notes = to_kev(energy, label, str(path))
    else:
        raise needs_calibration(path, "an Amptek .mca without a <<CALIBRATION>> of two or more points")
    return Cube(counts[None, None], energy, "amptek-mca", notes, Recorded(detector=device))
