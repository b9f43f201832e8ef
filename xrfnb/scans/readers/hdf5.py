"""Cubes in HDF5 (h5py) and numpy files: PyXRF's layout, cronomaxrf's gridified one, any HDF5 cube with
an energy axis (`img` is the ganx layout), and bare `.npy` arrays. The counts stay in the file (`Rows`): each
block of rows is read when it is used, so a cube larger than memory can be recoloured."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .base import Cube, Options, Rows, ScanError, linear_axis, needs_calibration, to_kev

GANX_RANGE = (0.5, 38.5)  # keV: the ganx layout's axis when a file stores none


def rows(path: Path, name: str) -> Rows:
    """The dataset `name` of an HDF5 file, read a block of rows at a time (the file opened for each)."""
    with h5py.File(path, "r") as h5:
        shape, dtype = h5[name].shape, h5[name].dtype
    if len(shape) != 3:
        raise ScanError(f"{path}: dataset {name!r} has shape {shape}; expected rows x cols x channels")

    def read(start: int, stop: int) -> np.ndarray:
        with h5py.File(path, "r") as h5:
            return h5[name][start:stop]

    return Rows(shape, dtype, read, path)


def layout(path: Path) -> str:
    """Which HDF5 layout: PyXRF's, cronomaxrf's gridified one, or a generic cube."""
    with h5py.File(path, "r") as h5:
        if "xrfmap/detsum/counts" in h5:
            return "pyxrf"
        if "spectra" in h5 and "energies" in h5:
            return "crono"
    return "hdf5"


def read_pyxrf(path: Path, options: Options) -> Cube:
    """PyXRF's layout: counts (rows, cols, channels); e_offset, e_linear (e_quadratic) in keV as attributes."""
    with h5py.File(path, "r") as h5:
        places = [h5["xrfmap/detsum/counts"].attrs, h5["xrfmap/detsum"].attrs]
        if "xrfmap/scan_metadata" in h5:
            places.append(h5["xrfmap/scan_metadata"].attrs)
        attrs = next((dict(a) for a in places if "e_offset" in a and "e_linear" in a), None)
    counts = rows(path, "xrfmap/detsum/counts")
    if attrs is not None:
        offset, gain, quad = attrs["e_offset"], attrs["e_linear"], attrs.get("e_quadratic", 0.0)
    elif options.calibration is not None:
        (offset, gain), quad = options.calibration, 0.0
    else:
        raise needs_calibration(path, "a PyXRF file without e_offset/e_linear (PyXRF keeps them in its JSON)")
    return Cube(counts, linear_axis(counts.shape[2], float(offset), float(gain), float(quad)), "pyxrf")


def read_crono(path: Path, options: Options) -> Cube:
    """cronomaxrf's gridified file: `/spectra` (rows, cols, channels) and `/energies` (channels)."""
    with h5py.File(path, "r") as h5:
        energies = h5["energies"][()].astype(float)
        units = h5["energies"].attrs.get("units")
    counts = rows(path, "spectra")
    energy, notes = to_kev(energies.ravel(), units, str(path))
    return Cube(counts, energy, "crono", notes)


def read_hdf5(path: Path, options: Options) -> Cube:
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
        counts, attrs = rows(path, name), {**h5.attrs, **data.attrs}
        units = attrs.get("units")
        if "energy" in h5:
            axis = h5["energy"][()].astype(float)
            units = h5["energy"].attrs.get("units", units)
        elif "energy" in attrs:
            axis = np.asarray(attrs["energy"], dtype=float)
        elif "e_offset" in attrs and "e_linear" in attrs:
            axis, units = linear_axis(counts.shape[2], float(attrs["e_offset"]), float(attrs["e_linear"])), "keV"
        elif options.calibration is not None:
            axis, units = linear_axis(counts.shape[2], *options.calibration), "keV"
        elif name == "img":
            lo, hi = GANX_RANGE
            axis = lo + (hi - lo) / counts.shape[2] * (np.arange(counts.shape[2]) + 0.5)
            return Cube(counts, axis, "hdf5", (f"{path}: no energy axis stored; assumed the ganx layout's "
                                               f"{lo}-{hi} keV",))
        else:
            raise needs_calibration(path, "an HDF5 cube without dataset 'energy', attribute 'energy' or "
                                          "'e_offset'/'e_linear'")
    energy, notes = to_kev(axis.ravel(), units, str(path))
    return Cube(counts, energy, "hdf5", notes)


def read_npy(path: Path, options: Options) -> Cube:
    """A bare (rows, cols, channels) array, memory-mapped: the calibration must come from the caller."""
    counts = np.load(path, mmap_mode="r", allow_pickle=False)
    if options.calibration is None:
        raise needs_calibration(path, "a .npy cube")
    if counts.ndim != 3:
        raise ScanError(f"{path}: array of shape {counts.shape}; expected rows x cols x channels")
    lazy = Rows(counts.shape, counts.dtype, lambda start, stop: np.array(counts[start:stop]), path)
    return Cube(lazy, linear_axis(counts.shape[2], *options.calibration), "npy")
