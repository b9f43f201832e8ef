"""SPEC/PyMca `.mca` spectra through silx (`silx.io.open` reads SPEC files as HDF5-like trees).

Each `@A` line of a scan is one MCA; several are several detectors, each with its `#@CALIB`
(`#@CALIB a b c`: keV = a + b * channel + c * channel^2 over the channels of `#@CHANN`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Cube, Options, detectors, needs_calibration


def read_mca(path: Path, options: Options) -> Cube:
    import silx.io

    spectra, axes = [], []
    with silx.io.open(str(path)) as spec:
        scan = next(iter(spec.values()))
        names = sorted((k for k in scan["measurement"] if k.startswith("mca_")), key=lambda k: int(k[4:]))
        for name in names:
            mca = scan[f"measurement/{name}"]
            counts = np.asarray(mca["data"][()], dtype=float)
            a, b, c = (float(v) for v in mca["info/calibration"][()])
            channels = np.asarray(mca["info/channels"][()], dtype=float)
            if options.calibration is not None:
                a, b, c = options.calibration[0], options.calibration[1], 0.0
            elif (a, b, c) == (0.0, 1.0, 0.0):
                raise needs_calibration(path, "a .mca without #@CALIB")
            spectra.append(counts.reshape(-1, counts.shape[-1])[0])  # a scan's first point
            axes.append(a + b * channels + c * channels ** 2)
    spectrum, energy, notes = detectors(spectra, axes, options.detector, path)
    return Cube(spectrum[None, None], energy, "mca", notes)
