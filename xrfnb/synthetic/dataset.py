"""Synthetic MA-XRF datasets: crops of seed paintings, split by painting, stored compactly in HDF5.

A sample's datacube is a pure function of its cluster labels, mixtures, counts and seed, so the store
keeps those (a few tens of KB per sample) and draws the cube on demand; `export_dense` writes any
sample as a dense cube in the `ganx` layout. Generation is resumable and atomic: it fills
`<store>.partial` and renames it to the final name only once every sample is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..paintings import seeds
from . import synth
from ..commits import Every
from ..config import ParameterError, StageParams, one_of, positive
from ..io import atomic_path, complete_h5, merge_shards, resumable_h5, write_json
from ..palette.pigments import Palette

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "val", "test")
HASHED = ("rgb", "labels", "n_clusters", "cluster_rgb", "weights", "mixtures", "counts", "painting", "split")


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that determines a dataset (with the seed images and the palette)."""

    samples: int = 100
    size: int = 128
    seed: int = 0
    counts: int = 400
    threshold: float = synth.THRESHOLD
    n_start: int = 10
    delta: int = 1
    min_crop: float = 0.5
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1)
    poisson: bool = False
    counts_range: tuple[int, int] | None = None
    blur_sigma: float = 0.0
    mixing: str = "linear"

    def __post_init__(self) -> None:
        if self.samples < 1 or self.size < 8:
            raise ValueError(f"need samples >= 1 and size >= 8, got {self.samples} and {self.size}")
        if self.delta < 1 or self.n_start - self.delta < 1:
            raise ValueError(f"need delta >= 1 and n_start - delta >= 1, got n_start={self.n_start}, "
                             f"delta={self.delta}")
        if abs(sum(self.fractions) - 1) > 1e-9:
            raise ValueError(f"split fractions must sum to 1, got {self.fractions}")

    @property
    def k_max(self) -> int:
        return max(self.n_start + self.delta - 1, 1)

    def synth_options(self) -> dict:
        return dict(counts=self.counts, threshold=self.threshold, n_start=self.n_start, delta=self.delta,
                    poisson=self.poisson, counts_range=self.counts_range, blur_sigma=self.blur_sigma,
                    mixing=self.mixing)


def load_paintings(seeds_dir: Path, size: int) -> tuple[list[dict], list[np.ndarray], list[dict]]:
    """The usable seed images of a folder: (records, images, skipped with reasons)."""
    manifest = seeds.load_manifest(seeds_dir)
    records, images, skipped = [], [], list(manifest.get("skipped", []))
    for rec in manifest["seeds"]:
        try:
            rgb = seeds.load_rgb(Path(seeds_dir) / rec["file"])
        except seeds.ImageError as err:
            skipped.append({"file": rec["file"], "reason": str(err)})
            continue
        except FileNotFoundError:
            skipped.append({"file": rec["file"], "reason": "listed in seeds.json but missing"})
            continue
        rec = {**rec, "sha256": hashlib.sha256((Path(seeds_dir) / rec["file"]).read_bytes()).hexdigest()}
        if min(rgb.shape[:2]) < size:
            skipped.append({"file": rec["file"], "reason": f"smaller than the crop ({rgb.shape[1]} x "
                                                           f"{rgb.shape[0]} < {size} px)"})
            continue
        records.append(rec)
        images.append(rgb)
    if not records:
        raise ValueError(f"{seeds_dir}: no usable seed images ({len(skipped)} skipped: "
                         f"{'; '.join(s['reason'] for s in skipped[:3])})")
    return records, images, skipped


def split_paintings(n: int, seed: int, fractions: tuple[float, float, float]) -> np.ndarray:
    """Split index (0 train, 1 val, 2 test) of each painting, so that no painting spans two splits."""
    order = np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(n)
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    if n >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    split = np.zeros(n, dtype=np.uint8)
    split[order[n - n_val - n_test:n - n_test]] = 1
    split[order[n - n_test:]] = 2
    return split


def random_crop(rgb: np.ndarray, size: int, min_crop: float, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """A random square crop (side between `min_crop` of the short side and all of it), resized to size x size."""
    h, w = rgb.shape[:2]
    short = min(h, w)
    side = int(rng.integers(max(size, int(min_crop * short)), short + 1))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(rgb[top:top + side, left:left + side])
    return np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS)), (top, left, side)


def _key(config: GenerateConfig, records: list[dict], palette: Palette) -> str:
    """What a store depends on: its configuration, the seed images (their bytes) and the palette."""
    return hashlib.sha256(json.dumps([asdict(config), [(r["file"], r["sha256"]) for r in records],
                                      palette.names]).encode()
                          + palette.spectra.tobytes() + palette.rgb.tobytes()).hexdigest()


def _assignment(config: GenerateConfig, records: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's painting (a seeded round-robin over the paintings) and its painting's split."""
    order = np.random.default_rng(np.random.SeedSequence([config.seed, 5])).permutation(len(records))
    painting = order[np.arange(config.samples) % len(records)].astype(np.int32)
    return painting, split_paintings(len(records), config.seed, config.fractions)[painting]


def _make_sample(args: tuple) -> dict:
    """Crop and synthesise sample i (runs in worker processes)."""
    i, rgb, config, palette = args
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, i, 3]))
    crop, box = random_crop(rgb, config.size, config.min_crop, rng)
    s = synth.synthesize(crop, palette, seed=config.seed, image_index=i, **config.synth_options())
    return {"index": i, "rgb": crop, "box": box, "synthesis": s}


def _create(h5: h5py.File, config: GenerateConfig, palette: Palette, records: list[dict],
            painting: np.ndarray, split: np.ndarray) -> None:
    n, s, k, p, e = config.samples, config.size, config.k_max, len(palette), palette.spectra.shape[1]
    h5.create_dataset("rgb", (n, s, s, 3), np.uint8, chunks=(1, s, s, 3), compression="lzf")
    h5.create_dataset("labels", (n, s, s), np.uint8, chunks=(1, s, s), compression="lzf")
    h5.create_dataset("n_clusters", (n,), np.uint8)
    h5.create_dataset("cluster_rgb", (n, k, 3), np.float32)
    h5.create_dataset("weights", (n, k, p), np.float32, chunks=(1, k, p))
    h5.create_dataset("mixtures", (n, k, e), np.float32, chunks=(1, k, e), compression="lzf")
    h5.create_dataset("counts", (n,), np.int32)
    h5.create_dataset("crop", (n, 3), np.int32)
    h5.create_dataset("done", (n,), bool)
    h5["painting"], h5["split"] = painting, split
    h5["energy"] = palette.energy
    h5.attrs.update(config=json.dumps(asdict(config)), palette=json.dumps(palette.names),
                    paintings=json.dumps(records), splits=json.dumps(SPLITS))


def _rows(sample: dict, k_max: int) -> dict[str, np.ndarray]:
    """A sample's row of every per-sample dataset (cluster arrays padded to `k_max`)."""
    s = sample["synthesis"]
    k = len(s.cluster_rgb)
    rows = {"rgb": sample["rgb"], "labels": s.labels, "crop": np.asarray(sample["box"], np.int32),
            "n_clusters": np.uint8(k), "counts": np.int32(s.counts)}
    for name, value in (("cluster_rgb", s.cluster_rgb), ("weights", s.weights), ("mixtures", s.mixtures)):
        padded = np.zeros((k_max, *np.shape(value)[1:]), np.float32)
        padded[:k] = value
        rows[name] = padded
    return rows


def content_hash(path: Path) -> str:
    """sha256 of the store's data and its configuration: equal hashes, equal datasets."""
    digest = hashlib.sha256()
    with h5py.File(path, "r") as h5:
        digest.update(h5.attrs["config"].encode())
        for name in HASHED:
            digest.update(np.ascontiguousarray(h5[name][()]).tobytes())
    return digest.hexdigest()


def generate(seeds_dir: str | Path, out: str | Path, palette: Palette, config: GenerateConfig,
             workers: int = 1, progress: bool = True, shard: tuple[int, int] = (0, 1),
             key: str | None = None, every: Every | None = None) -> dict | None:
    """Generate (or resume, or reuse) a dataset store at `out`; return its card (also at `<out>.card.json`).

    A finished store with the same configuration, seeds and palette is reused as is; an interrupted one
    (`<out>.partial`) is resumed; anything else is regenerated. Samples are committed to the partial
    store `every` so often (`commits.periodic()`: 30 s or 256 samples), so a hard kill loses at most that.

    With `shard=(rank, world)` this process makes only the samples i with i % world == rank, into its
    own shard file, and returns None; `merge` then assembles the store. Every sample is a pure function
    of (seed, i), so N processes (or GPUs) make exactly the dataset one would.

    `key` identifies the store (the pipeline passes its stage key); by default it is hashed from the
    configuration, the seed images' bytes and the palette.
    """
    out, seeds_dir = Path(out), Path(seeds_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    card_path = out.with_suffix(".card.json")
    records, images, skipped = load_paintings(seeds_dir, config.size)
    key = key or _key(config, records, palette)
    if card_path.exists() and complete_h5(out, key):
        return json.loads(card_path.read_text())
    start = time.perf_counter()
    painting, split = _assignment(config, records)
    create = partial(_create, config=config, palette=palette, records=records, painting=painting, split=split)
    rank, world = shard
    with resumable_h5(out, key, create, shard, every) as (commits, todo):
        jobs = ((int(i), images[painting[i]], config, palette) for i in todo)
        with tqdm(total=len(todo), desc=f"synthesising (shard {rank + 1}/{world})" if world > 1 else "synthesising",
                  disable=not progress, unit="sample") as bar:
            if workers > 1:
                with ProcessPoolExecutor(workers) as pool:
                    for sample in pool.map(_make_sample, jobs, chunksize=8):
                        commits.put(sample["index"], _rows(sample, config.k_max))
                        bar.update()
            else:
                for sample in map(_make_sample, jobs):
                    commits.put(sample["index"], _rows(sample, config.k_max))
                    bar.update()
        made = len(todo)
    if world > 1:
        return None
    return _finish(out, config, records, skipped, palette, time.perf_counter() - start, made)


def _finish(out: Path, config: GenerateConfig, records: list[dict], skipped: list[dict], palette: Palette,
            seconds: float, made: int | None = None) -> dict:
    """Hash a complete store and write its card (`made`: samples synthesised by this run, None if merged)."""
    digest = content_hash(out)
    card = dataset_card(out, config, records, skipped, digest, seconds, palette, made)
    write_json(out.with_suffix(".card.json"), card)
    return card


def merge(seeds_dir: str | Path, out: str | Path, palette: Palette, config: GenerateConfig, world: int,
          key: str | None = None) -> dict:
    """Assemble the store at `out` from the shard files of `generate(..., shard=(rank, world))`; its card."""
    out, seeds_dir = Path(out), Path(seeds_dir)
    start = time.perf_counter()
    records, _, skipped = load_paintings(seeds_dir, config.size)
    key = key or _key(config, records, palette)
    if out.with_suffix(".card.json").exists() and complete_h5(out, key):
        return json.loads(out.with_suffix(".card.json").read_text())
    painting, split = _assignment(config, records)
    create = partial(_create, config=config, palette=palette, records=records, painting=painting, split=split)
    merge_shards(out, key, world, create)
    return _finish(out, config, records, skipped, palette, time.perf_counter() - start)


@dataclass(frozen=True)
class GenerateParams(StageParams):
    """Chapter 3: the synthetic dataset (what `GenerateConfig` holds, by the profile's names) and what the
    chapter measures and draws (not part of the dataset's key)."""

    stage = "03_synthetic_maxrf"
    after = ("01_pigments", "02_seed_images")
    reads = ("palette.h5", "seeds/seeds.json")
    writes = ("dataset.h5", "dataset.card.json", "dense_test_sample.h5")
    code = ("xrfnb.synthetic.synth", "xrfnb.synthetic.dataset")
    unkeyed = frozenset({"workers", "figure_size", "info_samples", "info_thresholds", "info_counts"})

    seed: int = 0  # dataset seed: every random draw derives from it
    n_samples: int = 96  # synthetic samples (crops) in the dataset
    image_size: int = 64  # side of each sample in pixels
    counts: int = 400  # photons per pixel (the paper: 400)
    threshold: float = synth.THRESHOLD  # minimum CIEDE2000 similarity for a pigment to enter a mixture
    n_start: int = 10  # K-means sweep centre
    delta: int = 1  # K-means sweep half-width: K in {n_start - delta, ..., n_start + delta - 1}
    poisson: bool = False  # realism (beyond the paper): Poisson-varying counts per pixel
    blur_sigma: float = 0.0  # realism (beyond the paper): beam point-spread, Gaussian sigma in pixels
    mixing: str = "linear"  # 'linear' (the paper) or 'physics' (mixture spectra from mixed compositions)
    workers: int = 1  # processes for generation
    figure_size: int = 128  # side of the crop used for the generation figure
    info_samples: int = 4  # test samples measured for the sensitivity table
    info_thresholds: list[float] = field(default_factory=lambda: [0.2, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9])
    info_counts: list[int] = field(default_factory=lambda: [100, 400, 1600])

    def validate(self) -> None:
        positive(self.stage, n_samples=self.n_samples, counts=self.counts, workers=self.workers,
                 figure_size=self.figure_size, info_samples=self.info_samples)
        one_of(self.stage, "mixing", self.mixing, ("linear", "physics"))
        try:
            self.generate_config()
        except ValueError as err:
            raise ParameterError(f"{self.stage}: {err}") from None

    def generate_config(self) -> GenerateConfig:
        return GenerateConfig(samples=self.n_samples, size=self.image_size, seed=self.seed, counts=self.counts,
                              threshold=self.threshold, n_start=self.n_start, delta=self.delta,
                              poisson=self.poisson, blur_sigma=self.blur_sigma, mixing=self.mixing)

    def synth_options(self) -> dict:
        return self.generate_config().synth_options()


def run_stage(run: Path, params: GenerateParams, shard: tuple[int, int] = (0, 1), merge_world: int = 0,
              progress: bool = False) -> dict | None:
    """The synthetic-data stage on a run directory (`palette.h5`, `seeds/` in; `dataset.h5`, its card and a
    dense test cube out), as the notebook and `xrfnb stage generate` run it; the stage key keys the store.

    `shard=(rank, world)` makes one shard (and returns None); `merge_world=N` assembles N finished shards.
    """
    run = Path(run)
    key = params.current_key(run)
    palette = Palette.load(run / "palette.h5")
    config = params.generate_config()
    if merge_world:
        card = merge(run / "seeds", run / "dataset.h5", palette, config, merge_world, key=key)
    else:
        card = generate(run / "seeds", run / "dataset.h5", palette, config, workers=params.workers,
                        progress=progress, shard=shard, key=key)
    if card is None:
        return None
    store = Store(run / "dataset.h5")
    export_dense(store, int(store.indices("test")[0]), run / "dense_test_sample.h5")
    params.record(run, key, content_hash=card["content_hash"], samples=card["samples"])
    return card


def dataset_card(path: Path, config: GenerateConfig, records: list[dict], skipped: list[dict],
                 digest: str, seconds: float, palette: Palette, made: int | None = None) -> dict:
    """Parameters, counts per split, sizes, skipped inputs and the content hash of a store, and how many
    samples the run that finished it made (`made`; fewer than all after a resume, None if merged)."""
    with h5py.File(path, "r") as h5:
        split, painting = h5["split"][()], h5["painting"][()]
        e = h5["mixtures"].shape[2]
    n, s = config.samples, config.size
    return {
        "config": asdict(config),
        "palette": list(palette.names),
        "channels": int(e),
        "samples": n,
        "paintings": len(records),
        "splits": {name: {"samples": int((split == i).sum()), "paintings": int(len(set(painting[split == i])))}
                   for i, name in enumerate(SPLITS)},
        "sizes": {"store_bytes": path.stat().st_size,
                  "dense_int16_bytes": n * s * s * e * 2,
                  "dense_float32_bytes": n * s * s * e * 4,
                  "rgb_bytes": n * s * s * 3},
        "skipped": skipped,
        "content_hash": digest,
        "seconds": round(seconds, 2),
        "made_now": made,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def size_table(card: dict, extra: dict[str, int] | None = None) -> pd.DataFrame:
    """Bytes per sample and for the whole dataset: compact store, dense cubes, RGB targets (and `extra`)."""
    import pandas as pd

    n = card["samples"]
    sizes = card["sizes"]
    rows = {"compact store (this run)": sizes["store_bytes"], "dense cube, int16": sizes["dense_int16_bytes"],
            "dense cube, float32": sizes["dense_float32_bytes"], "RGB target, uint8": sizes["rgb_bytes"],
            **(extra or {})}
    return pd.DataFrame({"per sample (KiB)": {k: v / n / 2**10 for k, v in rows.items()},
                         f"all {n} samples (MiB)": {k: v / 2**20 for k, v in rows.items()}}).round(1)


class SplitStore:
    """A finished HDF5 store with one sample per row and a split per sample: what every store shares."""

    what, stage = "store", "its"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no {self.what} (run the {self.stage} stage first)")
        with h5py.File(self.path, "r") as h5:
            if not h5.attrs.get("complete"):
                raise ValueError(f"{self.path}: {self.what} is incomplete (an interrupted run?)")
            self.split = h5["split"][()]
            self.read_header(h5)
        self._h5: h5py.File | None = None
        self._pid = 0

    def read_header(self, h5: h5py.File) -> None:
        """Read what a subclass keeps in memory."""

    @property
    def h5(self) -> h5py.File:
        """The open file, opened lazily once per process (a forked DataLoader worker opens its own)."""
        if self._h5 is None or self._pid != os.getpid():
            self._h5, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._h5

    def __len__(self) -> int:
        return len(self.split)

    def indices(self, split: str) -> np.ndarray:
        """Sample indices of split 'train', 'val' or 'test'."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} (splits: {', '.join(SPLITS)})")
        return np.flatnonzero(self.split == SPLITS.index(split))

    def rgb(self, i: int) -> np.ndarray:
        """Sample i's RGB target (H, W, 3) uint8."""
        return self.h5["rgb"][i]


class Store(SplitStore):
    """Read access to a dataset store: samples, their syntheses and cubes drawn on demand."""

    what, stage = "dataset store", "synthetic-data"

    def read_header(self, h5: h5py.File) -> None:
        self.config = GenerateConfig(**{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in json.loads(h5.attrs["config"]).items()})
        self.paintings = json.loads(h5.attrs["paintings"])
        self.palette_names = tuple(json.loads(h5.attrs["palette"]))
        self.energy = h5["energy"][()]
        self.painting = h5["painting"][()]

    def synthesis(self, i: int) -> synth.Synthesis:
        """Sample i as a Synthesis (labels, cluster colours, weights, mixtures, seed)."""
        h5, k = self.h5, int(self.h5["n_clusters"][i])
        mixtures = h5["mixtures"][i, :k].astype(np.float64)
        return synth.Synthesis(labels=h5["labels"][i], cluster_rgb=h5["cluster_rgb"][i, :k].astype(np.float64),
                               weights=h5["weights"][i, :k].astype(np.float64),
                               mixtures=mixtures / mixtures.sum(1, keepdims=True),
                               seed=self.config.seed, image_index=int(i), counts=int(h5["counts"][i]),
                               poisson=self.config.poisson, blur_sigma=self.config.blur_sigma)

    def cube(self, i: int, device: str = "cpu") -> np.ndarray:
        """Sample i's datacube (H, W, E) int16, identical on every call."""
        return self.synthesis(i).cube(device)


@dataclass(frozen=True)
class Spectra:
    """Single-pixel spectra drawn from a split: counts (n, E) int16 and where each came from."""

    counts: np.ndarray
    sample: np.ndarray
    pixel: np.ndarray
    dominant: np.ndarray  # index of the pigment with the largest weight in the pixel's cluster

    def take(self, keep: np.ndarray) -> "Spectra":
        """The spectra selected by a boolean mask or an index array."""
        return Spectra(self.counts[keep], self.sample[keep], self.pixel[keep], self.dominant[keep])


def sample_spectra(store: Store, split: str, n: int, seed: int, device: str = "cpu") -> Spectra:
    """n random pixel spectra across the samples of a split, drawn exactly and reproducibly.

    Each spectrum picks a sample and a pixel at random, then draws that pixel's counts from its
    cluster's mixture (the beam point-spread option is not applied to single spectra).
    """
    index = store.indices(split)
    if len(index) == 0:
        raise ValueError(f"{store.path}: split {split!r} has no samples to draw spectra from")
    stream = SPLITS.index(split)  # each split its own random streams: no shared noise across splits
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11, stream]))
    samples = np.sort(rng.choice(index, n))
    size = store.config.size
    pixels = rng.integers(0, size * size, n)
    uniq, inv = np.unique(samples, return_inverse=True)
    h5 = store.h5
    labels = h5["labels"][uniq].reshape(len(uniq), -1)[inv, pixels].astype(np.int64)
    k_max = h5["mixtures"].shape[1]
    mixtures = h5["mixtures"][uniq].astype(np.float64).reshape(len(uniq) * k_max, -1)
    empty = mixtures.sum(1) == 0  # padding rows of images with fewer clusters: never drawn
    mixtures[empty] = 1.0
    mixtures /= mixtures.sum(1, keepdims=True)
    counts = h5["counts"][()][samples].astype(np.int64)
    if store.config.poisson:
        counts = rng.poisson(counts)
    key = int(np.random.SeedSequence([seed, 12, stream]).generate_state(1, np.uint64)[0])
    drawn = synth.draw_counts(mixtures, counts, key, labels=inv * k_max + labels, device=device)
    dominant = h5["weights"][uniq][inv, labels].argmax(1)
    return Spectra(counts=drawn, sample=samples, pixel=pixels, dominant=dominant)


def check_sample(store: Store, i: int) -> dict:
    """What a reader should be able to verify on any sample: identical redraws, exact photon totals, and
    the largest cluster's mean spectrum against its mixture."""
    a, b = store.cube(i), store.cube(i)
    s = store.synthesis(i)
    k = int(np.bincount(s.labels.ravel()).argmax())
    mean = a[s.labels == k].mean(0) / s.counts
    totals = a.sum(-1)
    return {"sample": int(i), "identical_redraw": bool(np.array_equal(a, b)),
            "photons_per_pixel": (int(totals.min()), int(totals.max())),
            "largest_cluster_pixels": int((s.labels == k).sum()),
            "max_abs_mean_minus_mixture": float(np.abs(mean - s.mixtures[k]).max())}


def export_dense(store: Store, i: int, path: str | Path) -> Path:
    """Write sample i as a dense cube in the `ganx` layout: HDF5 dataset `img` of shape (H, W, E)."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("img", data=store.cube(i), compression="gzip")
        h5["energy"] = store.energy
    return path


class CubeDataset(torch.utils.data.Dataset):
    """(datacube E x H x W float32, RGB target 3 x H x W float32 in [0, 1]) for the samples of one split."""

    def __init__(self, store: Store | str | Path, split: str):
        self.store = store if isinstance(store, Store) else Store(store)
        self.index = self.store.indices(split)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = int(self.index[j])
        cube = torch.from_numpy(self.store.cube(i).astype(np.float32)).permute(2, 0, 1)
        rgb = torch.from_numpy(self.store.rgb(i).astype(np.float32) / 255.0).permute(2, 0, 1)
        return cube, rgb
