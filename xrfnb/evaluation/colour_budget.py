"""Where the colour goes: an information budget from the data's ceiling down to the paper's model.

Every rung is measured on the run's test crops, with a 95 % bootstrap interval over test paintings, in the
order its definition implies (each rung knows or keeps less than the one above, or is a model of it):

1. the clustered image, which no model of these cubes can beat (the data's ceiling);
2. a per-pixel decoder given each pixel's true pigment weights, before any photon is drawn (noise-free);
3. the counts oracle: each pixel's counts decoded to the most likely of its image's own clusters, knowing
   their true mixtures (`information.oracle_labels`, the "oracle floor, per pixel" of chapter 7);
4. the same oracle on the DVE's latent: a Gaussian per cluster fitted to the image's own latent pixels;
5. a per-pixel decoder trained on the full spectrum, and 6. on the DVE's latent (`pixel_decoders`);
7. the pooled decoder and the book's compared models (chapter 7's comparison table), and the paper's
   SmallUViT (chapter 6's).

The drop from one rung to the next is what that step loses: information (the noise, the embedding) or
the model (its recipe, its context). `run` assembles the whole ladder for chapter 7 and writes it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import torch

from .. import metrics, prose, result_files
from ..embedding.embedded import EmbeddedStore
from ..synthetic import dataset, information, synth
from ..synthetic.dataset import Store
from . import pixel_decoders
from .compared import COMPARED, POOLED
from .pixel_decoders import PixelRecipe

CEILING = "clustered image (the data's ceiling)"
WEIGHTS = "per-pixel MLP on the true mixture weights (noise-free)"
COUNTS_ORACLE = "counts oracle (ML among the image's own clusters)"
LATENT_ORACLE = "the same oracle on the DVE's latent"
SPECTRUM = "per-pixel MLP on the full spectrum"
LATENT = "per-pixel MLP on the DVE's latent"
#: The measured rungs above the book's models, in ladder order, with their kind.
RUNGS = {CEILING: "ceiling", WEIGHTS: "model", COUNTS_ORACLE: "oracle", LATENT_ORACLE: "oracle",
         SPECTRUM: "model", LATENT: "model"}
#: Each measured rung's short name, for glued values.
SHORT = {CEILING: "ceiling", WEIGHTS: "weights_mlp", COUNTS_ORACLE: "counts_oracle", LATENT_ORACLE: "latent_oracle",
         SPECTRUM: "spectrum_mlp", LATENT: "latent_mlp"}
#: The book's compared models that stand on the ladder, by architecture (`compared.Variant.arch`).
LADDER_ARCHS = ("pixel_mlp", "unet")
#: The last rung: chapter 6's SmallUViT, scored on the same test crops.
SMALLUVIT = "SmallUViT, chapter 6 (the paper's model)"
METRICS = ("ms_ssim", "srgb_loss")
#: The ladder's columns: `pixels` are a budget decoder's training pixels, `seconds` what a rung cost here.
COLUMNS = ("rung", "kind", *(f"{m}{s}" for m in METRICS for s in ("", " low", " high")), "pixels", "seconds")


@dataclasses.dataclass(frozen=True)
class BudgetSizes:
    """What the budget's decoders train on: training pixels for the weights and latent decoders, and for
    the spectrum decoder (512 channels a pixel: memory), drawn with `seed`; and their recipe."""

    pixels: int
    spectrum_pixels: int
    recipe: PixelRecipe
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.pixels, self.spectrum_pixels) < 1:
            raise ValueError(f"the budget needs training pixels, got {self.pixels} and {self.spectrum_pixels}")


def _positions(n_images: int, per_image: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n distinct (image, pixel) positions drawn uniformly over a split (all of them if fewer), sorted."""
    total = n_images * per_image
    rng = np.random.default_rng(np.random.SeedSequence([seed, 21]))
    flat = np.sort(rng.choice(total, min(n, total), replace=False))
    return flat // per_image, flat % per_image


def _gather(indices: np.ndarray, n: int, seed: int, read: Callable[[int], tuple[np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (n, d) and colours (n, 3) in [0, 1] of n seeded pixels of the samples `indices`; `read(i)`
    gives sample i's per-pixel inputs (pixels, d) and RGB (pixels, 3) uint8."""
    x0, _ = read(int(indices[0]))
    image, pixel = _positions(len(indices), len(x0), n, seed)
    xs, ys = [], []
    for j in np.unique(image):
        x, rgb = read(int(indices[j]))
        at = pixel[image == j]
        xs.append(x[at])
        ys.append(rgb[at])
    return np.concatenate(xs), np.concatenate(ys).astype(np.float32) / 255.0


def pigment_image(s: synth.Synthesis) -> np.ndarray:
    """Each pixel's true pigment weights (H, W, P): its cluster's, as generated (no photon drawn)."""
    return s.weights[s.labels].astype(np.float32)


def weight_pixels(store: Store, split: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True pigment weights (n, P) and colours of n seeded pixels of a split."""
    def read(i: int) -> tuple[np.ndarray, np.ndarray]:
        w = pigment_image(store.synthesis(i))
        return w.reshape(-1, w.shape[-1]), store.rgb(i).reshape(-1, 3)
    return _gather(store.indices(split), n, seed, read)


def latent_pixels(emb: EmbeddedStore, split: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """DVE latents (n, d) and colours of n seeded pixels of a split (the same pixels as `weight_pixels`)."""
    def read(i: int) -> tuple[np.ndarray, np.ndarray]:
        z = emb.embedded(i)
        return z.reshape(len(z), -1).T, emb.rgb(i).reshape(-1, 3)
    return _gather(emb.indices(split), n, seed, read)


def spectrum_pixels(store: Store, split: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts (n, E) int16 and colours of n pixels of a split, each drawn afresh from its cluster's
    mixture (`dataset.sample_spectra`: no cube is drawn whole)."""
    spectra = dataset.sample_spectra(store, split, n, seed)
    rgb = np.empty((n, 3), np.float32)
    for i in np.unique(spectra.sample):
        at = spectra.sample == i
        rgb[at] = store.rgb(int(i)).reshape(-1, 3)[spectra.pixel[at]] / 255.0
    return spectra.counts, rgb


def latent_oracle_labels(latent: np.ndarray, labels: np.ndarray, mixtures: np.ndarray) -> np.ndarray:
    """Most likely cluster of every pixel (H, W) from its latent (d, H, W) alone, knowing the image's clusters.

    Each cluster is a Gaussian fitted to its own pixels' latents (the true `labels`: an oracle); clusters of
    one mixture (`information.first_alike`) are one, decided as the counts oracle decides them. A cluster
    with too few pixels for its own covariance takes the image's pooled within-cluster covariance.
    """
    d = len(latent)
    z = latent.reshape(d, -1).T.astype(np.float64)
    first = information.first_alike(mixtures)
    merged = first[labels.ravel()]
    distinct = np.unique(merged)
    centred = z - np.stack([z[merged == c].mean(0) for c in distinct])[np.searchsorted(distinct, merged)]
    pooled = np.cov(centred.T).reshape(d, d)
    ridge = 1e-6 * max(np.trace(pooled) / d, 1e-12) * np.eye(d)
    loglik = np.empty((len(z), len(distinct)))
    for j, c in enumerate(distinct):
        own = z[merged == c]
        cov = (np.cov(own.T).reshape(d, d) if len(own) > 2 * d else pooled) + ridge
        diff = z - own.mean(0)
        _, logdet = np.linalg.slogdet(cov)
        loglik[:, j] = -0.5 * (np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff) + logdet)
    return distinct[loglik.argmax(1)].reshape(labels.shape)


#: How the ceiling and the oracles paint one test sample (synthesis, its cube, its latent) as (H, W, 3).
ORACLES: dict[str, Callable[[synth.Synthesis, np.ndarray, np.ndarray], np.ndarray]] = {
    CEILING: lambda s, cube, latent: s.clustered_rgb(),
    COUNTS_ORACLE: lambda s, cube, latent: s.cluster_rgb[information.oracle_labels(cube, s.mixtures)],
    LATENT_ORACLE: lambda s, cube, latent: s.cluster_rgb[latent_oracle_labels(latent, s.labels, s.mixtures)],
}


def scores(pred: np.ndarray, target: torch.Tensor) -> dict[str, np.ndarray]:
    """MS-SSIM and the redmean loss of every image (n, 3, H, W), as `metrics.per_image` computes them."""
    p = torch.as_tensor(pred).float().clamp(0, 1)
    return {"ms_ssim": metrics.ms_ssim(p, target, reduction="none").numpy(),
            "srgb_loss": metrics.srgb_distance(p, target).mean((1, 2)).numpy()}


def rung_row(name: str, kind: str, per_image: dict[str, np.ndarray], paintings: np.ndarray,
             pixels: int | None = None, seconds: float = float("nan")) -> dict:
    """One rung: the mean of each metric over the test images and its 95 % interval over paintings, with
    the training pixels of a budget's decoder and the seconds the rung cost (where measured here)."""
    row = {"rung": name, "kind": kind, "pixels": pixels, "seconds": seconds}
    for m in METRICS:
        values = np.asarray(per_image[m], float)
        row[m] = float(values.mean())
        row[f"{m} low"], row[f"{m} high"] = metrics.bootstrap_interval(values, paintings)
    return row


def measured_rungs(store: Store, emb: EmbeddedStore, sizes: BudgetSizes) -> list[dict]:
    """The rungs above the book's models (`RUNGS`), on the test split: the decoders trained on `sizes`,
    the oracles and the ceiling measured image by image. Each row has the seconds it cost."""
    test = emb.indices("test")
    paintings = store.painting[test]
    seconds = {name: 0.0 for name in RUNGS}
    training = {WEIGHTS: (lambda: weight_pixels(store, "train", sizes.pixels, sizes.seed), sizes.pixels, False),
                SPECTRUM: (lambda: spectrum_pixels(store, "train", sizes.spectrum_pixels, sizes.seed),
                           sizes.spectrum_pixels, True),
                LATENT: (lambda: latent_pixels(emb, "train", sizes.pixels, sizes.seed), sizes.pixels, False)}
    decoders = {}
    for name, (draw, _, hellinger) in training.items():
        start = time.perf_counter()
        decoders[name] = pixel_decoders.fit(*draw(), sizes.recipe, sizes.seed, hellinger)
        seconds[name] += time.perf_counter() - start
    preds = {name: [] for name in RUNGS}
    for i in test:
        s, latent = store.synthesis(int(i)), emb.embedded(int(i))
        start = time.perf_counter()
        cube = s.cube()
        drawn = time.perf_counter() - start
        inputs = {WEIGHTS: pigment_image(s), SPECTRUM: cube, LATENT: latent.transpose(1, 2, 0)}
        for name, x in inputs.items():
            start = time.perf_counter()
            preds[name].append(pixel_decoders.predict_image(decoders[name], x))
            seconds[name] += time.perf_counter() - start
        for name, paint in ORACLES.items():
            start = time.perf_counter()
            preds[name].append(paint(s, cube, latent).transpose(2, 0, 1).astype(np.float32))
            seconds[name] += time.perf_counter() - start
        seconds[COUNTS_ORACLE] += drawn  # the cube is drawn for the counts oracle (and reused)
    target = torch.from_numpy(np.stack([store.rgb(int(i)) for i in test])).permute(0, 3, 1, 2).float() / 255.0
    return [rung_row(name, kind, scores(np.stack(preds[name]), target), paintings,
                     training[name][1] if name in training else None, seconds[name]) for name, kind in RUNGS.items()]


def book_models(epochs: int) -> dict[str, str]:
    """The compared models of `LADDER_ARCHS` as rungs: {comparison row: rung name with its budget}."""
    return {name: f"the book's {v.short or name} ({epochs} epochs)" for name, v in COMPARED.items()
            if v.arch in LADDER_ARCHS}


def comparison_rows(comparison: pd.DataFrame, names: dict[str, str]) -> list[dict]:
    """Rungs read from chapter 7's comparison table (`evaluate.compare`): {row name: rung name}."""
    rows = []
    for row, name in names.items():
        if row not in comparison.index:
            raise KeyError(f"{row!r} is not a model of the comparison table (models: {', '.join(comparison.index)})")
        r = comparison.loc[row]
        rows.append({"rung": name, "kind": "model", "pixels": None, "seconds": float("nan"),
                     **{c: float(r[c]) for m in METRICS for c in (m, f"{m} low", f"{m} high")}})
    return rows


def ladder(rows: list[dict]) -> pd.DataFrame:
    """The rungs in order with, for each, its drop from the rung above (MS-SSIM lost, redmean loss
    gained) and whether the two differ beyond their intervals (the intervals do not overlap)."""
    table = pd.DataFrame(rows, columns=list(COLUMNS)).set_index("rung").astype({"pixels": "Int64"})
    table["ms_ssim drop"] = -table["ms_ssim"].diff()
    table["srgb_loss rise"] = table["srgb_loss"].diff()
    low, high = table["ms_ssim low"], table["ms_ssim high"]
    apart = (low.shift() > high) | (high.shift() < low)
    table["apart from the rung above"] = apart.where(table["ms_ssim drop"].notna())
    return table


def largest_loss(table: pd.DataFrame) -> dict:
    """The largest MS-SSIM drop between consecutive rungs of a `ladder`: the two rungs and the numbers."""
    drops = table["ms_ssim drop"].dropna()
    if drops.empty:
        raise ValueError("a budget needs at least two rungs to have a loss between them")
    lower = drops.idxmax()
    upper = table.index[table.index.get_loc(lower) - 1]
    return {"upper": upper, "lower": lower, "drop": float(drops[lower]),
            "apart": bool(table.loc[lower, "apart from the rung above"])}


def sentence(table: pd.DataFrame) -> str:
    """The budget in one computed sentence: where the most colour goes, and whether it is measurable."""
    big = largest_loss(table)
    up, low = table.loc[big["upper"]], table.loc[big["lower"]]
    verdict = prose.versus(float(low["ms_ssim"]), float(up["ms_ssim"]),
                           (float(up["ms_ssim low"]), float(up["ms_ssim high"])))
    overlap = ("by the stricter reading too, their two 95 % intervals do not overlap" if big["apart"] else
               "by the stricter reading, their two 95 % intervals still overlap")
    n_apart = int(table["apart from the rung above"].dropna().astype(bool).sum())
    return (f"The largest loss between consecutive rungs is from “{big['upper']}” to “{big['lower']}”: MS-SSIM "
            f"{verdict}; {overlap}. In all, {n_apart} of the ladder's {len(table) - 1} steps separate their two "
            f"rungs so far that their intervals do not overlap.")


class Budget(NamedTuple):
    """What chapter 7 shows of the budget: the ladder (`ladder`), its sentence and the seconds it took."""

    ladder: pd.DataFrame
    sentence: str
    seconds: float


def run(store: Store, emb: EmbeddedStore, sizes: BudgetSizes, comparison: pd.DataFrame, compare_epochs: int,
        smalluvit: pd.DataFrame, paintings: np.ndarray, results: Path) -> Budget:
    """Chapter 7's budget, written to `results` (`result_files.write_colour_budget`): the measured rungs,
    then the pooled decoder and the book's compared models from chapter 7's comparison table, then
    SmallUViT from its metrics per test image (`smalluvit`, the images' `paintings` beside)."""
    start = time.perf_counter()
    rungs = measured_rungs(store, emb, sizes)
    models = comparison_rows(comparison, {POOLED: POOLED, **book_models(compare_epochs)})
    table = ladder([*rungs, *models, rung_row(SMALLUVIT, "model", smalluvit, paintings)])
    text = sentence(table)
    result_files.write_colour_budget(results, table, text)
    return Budget(table, text, time.perf_counter() - start)
