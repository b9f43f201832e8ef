"""Chapter 5, the embedded dataset: every sample's cube encoded by the DVE into a 3 x H x W image (the
latent means) beside its RGB target; the stage that writes it and the store that reads it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
from einops import rearrange

from ..synthetic import dataset
from . import dve
from ..commits import Every
from ..config import StageParams, positive
from ..io import read_json

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


def _create_embedded(h5: h5py.File, store) -> None:
    n, size = len(store), store.config.size
    h5.create_dataset("embedded", (n, 3, size, size), np.float16, chunks=(1, 3, size, size))
    h5.create_dataset("rgb", (n, size, size, 3), np.uint8, chunks=(1, size, size, 3), compression="lzf")
    h5.create_dataset("done", (n,), bool)
    h5["split"], h5["painting"] = store.split, store.painting


def embed(model: dve.DVE, store, out: str | Path, key: str, device: str = "cpu", batch_samples: int = 8,
          progress: bool = True, shard: tuple[int, int] = (0, 1), every: Every | None = None) -> dict:
    """Embed every sample of a dataset store into `out`: (N, 3, H, W) float16 images beside their RGB.

    Each sample's cube is drawn (on `device`) and encoded pixel by pixel with the latent mean, in
    batches of `batch_samples` samples. Resumable and atomic (see `io.resumable_h5`), committed `every`
    so often, so a hard kill loses at most that (`commits.periodic()`: 30 s or 256 samples); a finished store
    with the same `key` (dataset and DVE checkpoint) is reused. With `shard=(rank, world)` only samples
    i % world == rank are embedded, into a shard file for `merge_embedded`. Returns counts and throughput.
    """
    from functools import partial

    from tqdm import tqdm

    from ..io import complete_h5, resumable_h5

    out = Path(out)
    if complete_h5(out, key):
        with h5py.File(out, "r") as h5:
            return json.loads(h5.attrs["stats"])
    model = model.to(device).eval()
    start, pixels = time.perf_counter(), 0
    with resumable_h5(out, key, partial(_create_embedded, store=store), shard, every) as (commits, todo):
        with tqdm(total=len(todo), desc="embedding", unit="sample", disable=not progress) as bar:
            for chunk in np.array_split(todo, max(1, -(-len(todo) // batch_samples))):
                if len(chunk) == 0:
                    continue
                cubes = np.stack([store.cube(int(i), device) for i in chunk])
                z = dve.encode(model, rearrange(cubes, "b h w e -> (b h w) e"), device=device)
                images = rearrange(z, "(b h w) c -> b c h w", b=len(chunk), h=cubes.shape[1], w=cubes.shape[2])
                commits.put_block(chunk, {"embedded": images.astype(np.float16),
                                          "rgb": np.stack([store.rgb(int(i)) for i in chunk])})
                pixels += cubes.shape[0] * cubes.shape[1] * cubes.shape[2]
                bar.update(len(chunk))
        seconds = time.perf_counter() - start
        stats = {"samples": len(store), "embedded_now": int(len(todo)), "seconds": round(seconds, 3),
                 "spectra_per_s": round(pixels / seconds, 1) if pixels else None, "device": device}
        commits.h5.attrs["stats"] = json.dumps(stats)
    return stats


def merge_embedded(store, out: str | Path, key: str, world: int) -> None:
    """Assemble the embedded store at `out` from the shard files of `embed(..., shard=(rank, world))`."""
    from functools import partial

    from ..io import complete_h5, merge_shards

    if not complete_h5(out, key):
        merge_shards(out, key, world, partial(_create_embedded, store=store))
        with h5py.File(out, "r+") as h5:
            h5.attrs["stats"] = json.dumps({"samples": len(store), "merged_shards": world})


@dataclass(frozen=True)
class EmbedParams(StageParams):
    """Chapter 5: every sample of the dataset encoded by the DVE."""

    stage = "05_embedded_dataset"
    after = ("03_synthetic_maxrf", "04_train_dve")
    reads = ("dataset.h5", "dataset.card.json", "dve/dve.ckpt")
    writes = ("embedded.h5",)
    code = ("xrfnb.embedding.dve", "xrfnb.embedding.embedded")
    unkeyed = frozenset({"embed_batch_samples", "n_examples"})

    embed_batch_samples: int = 8  # samples encoded together
    n_examples: int = 4  # test samples shown

    def validate(self) -> None:
        positive(self.stage, embed_batch_samples=self.embed_batch_samples, n_examples=self.n_examples)


def embed_stage(run: Path, params: EmbedParams, shard: tuple[int, int] = (0, 1), merge_world: int = 0,
                device: str | None = None, progress: bool = False) -> dict:
    """The embedding stage on a run directory (`dataset.h5`, `dve/dve.ckpt` in; `embedded.h5` out), as the
    notebook and `xrfnb stage embed` run it; `shard`/`merge_world` as in `dataset.run_stage`. The stage
    key keys the store, so the SmallUViT training that reads it follows the dataset and the DVE."""
    from ..device import torch_device

    run = Path(run)
    store = dataset.Store(run / "dataset.h5")
    key = params.current_key(run)
    if merge_world:
        merge_embedded(store, run / "embedded.h5", key, merge_world)
        stats = {"samples": len(store), "merged_shards": merge_world}
    else:
        model = dve.load(run / "dve" / "dve.ckpt", n_channels=len(store.energy))
        stats = embed(model, store, run / "embedded.h5", key, device=device or torch_device("auto"),
                      batch_samples=params.embed_batch_samples, progress=progress, shard=shard)
        if shard[1] > 1:
            return stats
    params.record(run, key, samples=len(store))
    return stats
