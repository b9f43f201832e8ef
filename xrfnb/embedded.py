"""The embedded dataset: 3 x H x W images (the DVE's latent means) beside their RGB targets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from . import dataset
from .io import read_json

if TYPE_CHECKING:
    import pandas as pd


class EmbeddedStore(dataset.SplitStore):
    """Read access to `embedded.h5`: embedded images, RGB targets and splits."""

    what, stage = "embedded store", "embedding"

    def read_header(self, h5: h5py.File) -> None:
        self.shape = h5["embedded"].shape
        self.key = str(h5.attrs["key"])  # the embedding stage's key: what the images derive from

    def embedded(self, i: int) -> np.ndarray:
        """Sample i's embedded image (3, H, W) as float32."""
        return self.h5["embedded"][i].astype(np.float32)

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """All embedded images (n, 3, H, W) float16 and RGB targets (n, H, W, 3) uint8 of a split."""
        idx = self.indices(split)
        return self.h5["embedded"][idx], self.h5["rgb"][idx]

    def blocks(self, split: str, block: int = 256):
        """(embedded float32, rgb uint8) arrays of a split, `block` samples at a time."""
        idx = self.indices(split)
        for start in range(0, len(idx), block):
            chunk = idx[start:start + block]
            yield self.h5["embedded"][chunk].astype(np.float32), self.h5["rgb"][chunk]

    def percentiles(self, q: tuple[float, float] = (1, 99), n: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel low and high percentiles over (up to n) samples, for false colour."""
        sample = self.h5["embedded"][: min(n, len(self))].astype(np.float32)
        lo, hi = np.percentile(sample.transpose(1, 0, 2, 3).reshape(3, -1), q, axis=1)
        return lo, hi


def channel_stats(store: EmbeddedStore, split: str, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of a split's embedded images, streamed block by block."""
    idx = store.indices(split)
    total, total_sq, n = np.zeros(store.shape[1]), np.zeros(store.shape[1]), 0
    for start in range(0, len(idx), block):
        x = store.h5["embedded"][idx[start:start + block]].astype(np.float64)
        total += x.sum((0, 2, 3))
        total_sq += (x ** 2).sum((0, 2, 3))
        n += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / max(n, 1)
    return mean, np.sqrt(np.maximum(total_sq / max(n, 1) - mean ** 2, 1e-12))


def false_colour(image: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """An embedded image (3, H, W) as an RGB picture (H, W, 3) in [0, 1], each channel stretched lo..hi."""
    scaled = (image - lo[:, None, None]) / np.maximum(hi - lo, 1e-6)[:, None, None]
    return np.clip(scaled, 0, 1).transpose(1, 2, 0)


def size_table(card_path: str | Path, embedded_path: str | Path) -> pd.DataFrame:
    """Per-sample and total bytes: dense cubes, the compact store, the embedded images, RGB."""
    with h5py.File(embedded_path, "r") as h5:
        emb = h5["embedded"]
        embedded_bytes = int(np.prod(emb.shape)) * emb.dtype.itemsize
    return dataset.size_table(read_json(card_path), {"embedded image, float16 (3 channels)": embedded_bytes})
