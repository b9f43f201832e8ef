"""A path for measured MA-XRF scans: load, rebin to the model's energy axis, embed and recolour.

Accepts the `ganx` layout (HDF5 dataset `img` of shape H x W x E, with an `energy` dataset or attribute
if the axis is not the default 0.5-38.5 keV) and any HDF5 file with an H x W x E dataset and an energy
axis. The models are trained on synthetic data only: real scans need the domain adaptation the paper
lists as future work, and this path makes no claim beyond running them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from . import dve, recolour


@dataclass(frozen=True)
class Cube:
    """A measured datacube: counts (H, W, E) and the channel centres in keV."""

    counts: np.ndarray
    energy: np.ndarray


def load_cube(path: str | Path, dataset: str = "img", energy: str = "energy",
              default_range: tuple[float, float] = (0.5, 38.5)) -> Cube:
    """Read an H x W x E cube; the energy axis comes from dataset/attribute `energy`, else `default_range`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such cube file")
    with h5py.File(path, "r") as h5:
        if dataset not in h5:
            raise ValueError(f"{path}: no dataset {dataset!r} (found: {', '.join(h5.keys())})")
        counts = np.asarray(h5[dataset])
        if counts.ndim != 3:
            raise ValueError(f"{path}:{dataset} has shape {counts.shape}; expected H x W x E")
        if energy in h5:
            axis = np.asarray(h5[energy], dtype=float)
        elif energy in h5[dataset].attrs:
            axis = np.asarray(h5[dataset].attrs[energy], dtype=float)
        else:
            lo, hi = default_range
            width = (hi - lo) / counts.shape[2]
            axis = lo + width * (np.arange(counts.shape[2]) + 0.5)
    if axis.shape != (counts.shape[2],):
        raise ValueError(f"{path}: energy axis has {axis.size} values for {counts.shape[2]} channels")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError(f"{path}:{dataset} has NaN, infinite or negative counts")
    return Cube(counts, axis)


def rebin(cube: Cube, target: np.ndarray) -> np.ndarray:
    """Counts on the `target` channel centres: the cumulative counts interpolated at the target's edges.

    Counts are treated as spread evenly within each source channel, so the total inside the target's
    range is conserved. Raises if the cube's axis does not cover the target's range.
    """
    def edges(centres: np.ndarray) -> np.ndarray:
        w = np.diff(centres)
        return np.concatenate([[centres[0] - w[0] / 2], centres[:-1] + w / 2, [centres[-1] + w[-1] / 2]])

    src, dst = edges(cube.energy), edges(target)
    if src[0] > dst[0] + 1e-9 or src[-1] < dst[-1] - 1e-9:
        raise ValueError(f"the cube's energy axis {src[0]:.2f}-{src[-1]:.2f} keV does not cover the model's "
                         f"{dst[0]:.2f}-{dst[-1]:.2f} keV")
    cumulative = np.concatenate([np.zeros(cube.counts.shape[:2] + (1,)), np.cumsum(cube.counts, -1)], -1)
    flat = cumulative.reshape(-1, cumulative.shape[-1])
    at = np.stack([np.interp(dst, src, row) for row in flat]).reshape(*cube.counts.shape[:2], -1)
    return np.clip(np.diff(at, axis=-1), 0, None)


def recolour_cube(cube: Cube, dve_model: dve.DVE, module: recolour.Recolouring, energy: np.ndarray,
                  device: str = "cpu") -> np.ndarray:
    """RGB (H, W, 3) in [0, 1] for a measured cube: rebin, embed, then recolour tile by tile.

    The image is reflect-padded to a multiple of the model's image size and cut into tiles that size.
    """
    counts = rebin(cube, energy)
    total = counts.sum(-1)
    if (total <= 0).any():
        counts = counts + (total <= 0)[..., None] / counts.shape[-1]  # an empty pixel gets a flat spectrum
    embedded = dve.encode(dve_model, counts.reshape(-1, counts.shape[-1]).astype(np.float32), device=device)
    h, w = cube.counts.shape[:2]
    image = embedded.reshape(h, w, -1).transpose(2, 0, 1)
    s = module.cfg.model.image_size
    ph, pw = -h % s, -w % s
    padded = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="reflect")
    tiles = [padded[:, r:r + s, c:c + s] for r in range(0, h + ph, s) for c in range(0, w + pw, s)]
    pred = recolour.predict(module, np.stack(tiles), device=device)
    out = np.zeros((3, h + ph, w + pw), dtype=np.float32)
    positions = [(r, c) for r in range(0, h + ph, s) for c in range(0, w + pw, s)]
    for (r, c), tile in zip(positions, pred):
        out[:, r:r + s, c:c + s] = tile
    return out[:, :h, :w].transpose(1, 2, 0)
