"""Chapter 5, the embedded dataset: every sample's cube encoded by chapter 4's encoder (the DVE, or the PCA
of `embedding: pca`) into a d x H x W image (the latent means; d = `dve_latent`, the paper's 3) beside its
RGB target; the stage that writes it, the store that reads it, and how its images are shown in colour."""

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
        """Sample i's embedded image (d, H, W) as float32."""
        return self.h5["embedded"][i].astype(np.float32)

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """All embedded images (n, d, H, W) float16 and RGB targets (n, H, W, 3) uint8 of a split."""
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
        lo, hi = np.percentile(sample.transpose(1, 0, 2, 3).reshape(sample.shape[1], -1), q, axis=1)
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


def shown_latent(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, str]:
    """The three latent coordinates of `x` (along `axis`) that a figure draws, as the axes of a 3-D scatter or
    the red, green and blue of a false-colour image: the paper's three; the first three of a larger latent
    (a PCA's largest components, a DVE's first three); those of a smaller one with zeros after them. And a
    note that says so for a caption (empty for three)."""
    x = np.asarray(x)
    d = x.shape[axis]
    shown = np.take(x, np.arange(min(d, 3)), axis=axis)
    if d < 3:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (0, 3 - d)
        shown = np.pad(shown, pad)
    note = ("" if d == 3 else f"latent coordinates 1 to 3 of {d}" if d > 3 else
            f"{d} latent coordinate{'s' if d > 1 else ''}, {'blue' if d == 2 else 'green and blue'} zero")
    return shown, note


def false_colour(image: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """An embedded image (d, H, W) as an RGB picture (H, W, 3) in [0, 1]: its three shown coordinates
    (`shown_latent`), each stretched between its lo and hi (per channel, as `percentiles` gives them)."""
    image, lo, hi = (shown_latent(v, 0)[0] for v in (image, np.asarray(lo), np.asarray(hi)))
    scaled = (image - lo[:, None, None]) / np.maximum(hi - lo, 1e-6)[:, None, None]
    return np.clip(scaled, 0, 1).transpose(1, 2, 0)


def false_colour_title(channels: int) -> str:
    """The title of an embedded image in false colour, naming the coordinates shown where not all three."""
    note = shown_latent(np.zeros(channels))[1]
    return f"embedded (false colour{', ' + note if note else ''})"


def embedded_row(channels: int) -> str:
    """The embedded images' row of `size_table`."""
    return f"embedded image, float16 ({channels} channels)"


def size_table(card_path: str | Path, embedded_path: str | Path) -> pd.DataFrame:
    """Per-sample and total bytes: dense cubes, the compact store, the embedded images, RGB."""
    with h5py.File(embedded_path, "r") as h5:
        emb = h5["embedded"]
        embedded_bytes = int(np.prod(emb.shape)) * emb.dtype.itemsize
        channels = emb.shape[1]
    return dataset.size_table(read_json(card_path), {embedded_row(channels): embedded_bytes})


def _create_embedded(h5: h5py.File, store, channels: int) -> None:
    n, size = len(store), store.config.size
    h5.create_dataset("embedded", (n, channels, size, size), np.float16, chunks=(1, channels, size, size))
    h5.create_dataset("rgb", (n, size, size, 3), np.uint8, chunks=(1, size, size, 3), compression="lzf")
    h5.create_dataset("done", (n,), bool)
    h5["split"], h5["painting"] = store.split, store.painting


def embed(model: dve.Embedding, store, out: str | Path, key: str, device: str = "cpu", batch_samples: int = 8,
          progress: bool = True, shard: tuple[int, int] = (0, 1), every: Every | None = None) -> dict:
    """Embed every sample of a dataset store into `out`: (N, d, H, W) float16 images beside their RGB, d the
    encoder's latent size.

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
    create = partial(_create_embedded, store=store, channels=model.cfg.latent_dim)
    with resumable_h5(out, key, create, shard, every) as (commits, todo):
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
    """Assemble the embedded store at `out` from the shard files of `embed(..., shard=(rank, world))` (as
    many channels as theirs)."""
    from ..io import complete_h5, merge_shards, shard_path

    def create(h5: h5py.File) -> None:  # called once merge_shards has found every shard finished
        with h5py.File(shard_path(out, 0, world), "r") as first:
            _create_embedded(h5, store, first["embedded"].shape[1])

    if not complete_h5(out, key):
        merge_shards(out, key, world, create)
        with h5py.File(out, "r+") as h5:
            h5.attrs["stats"] = json.dumps({"samples": len(store), "merged_shards": world})


@dataclass(frozen=True)
class EmbedParams(StageParams):
    """Chapter 5: every sample of the dataset encoded by chapter 4's encoder (the DVE, or its PCA)."""

    stage = "05_embedded_dataset"
    after = ("03_synthetic_maxrf", "04_train_dve")
    reads = ("dataset.h5", "dataset.card.json", "dve/dve.ckpt")
    writes = ("embedded.h5",)
    code = ("xrfnb.embedding.dve", "xrfnb.embedding.pca", "xrfnb.embedding.embedded")
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
