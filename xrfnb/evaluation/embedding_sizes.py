"""Does the embedding's size hold the colour back? The budget's latent rungs at other latent sizes.

The information budget (`colour_budget`) measures the run's own latent, three numbers a pixel in the
paper. Here the same test crops are decoded from embeddings of other sizes: the run's latent as
`embedded.h5` holds it, and a PCA of the DVE's input (the Hellinger map, `pca.fit`) at each size of
`latents`. PCA components are nested, so one fit at the largest size is projected once and sliced: PCA-d
is the first d components of the largest. Every embedding gets the same four decoders: the latent oracle
(`colour_budget.latent_oracle_labels`); perfect pooling, a per-pixel MLP on the latent averaged over each
true segment (`segment_means`: the most any pooling of that latent can hand a decoder of one pixel); the
per-pixel MLP and the pooled decoder (`xrfnb.models.pooled`, without and with its pooled copies). The
three MLPs train with the same steps and seed on the same first training images, so that a row differs
from another only by its embedding. `run` measures it for
chapter 7 and writes it.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from .. import metrics, prose, result_files
from ..io import atomic_path
from ..embedding import dve, pca
from ..embedding.embedded import EmbeddedStore
from ..models import pooled, recolour
from ..synthetic import dataset, information, synth
from ..synthetic.dataset import Store
from .colour_budget import METRICS, latent_oracle_labels, rung_row, scores

ORACLE, SEGMENTS = "latent oracle", "perfect pooling"
PIXEL_MLP, POOLED = "per-pixel MLP", "pooled decoder"
#: The decoders every embedding gets, in the table's order.
MODELS = (ORACLE, SEGMENTS, PIXEL_MLP, POOLED)
#: Where in a run chapter 7 keeps the largest PCA's pooled decoder and encoder (`keep_largest`).
KEPT = Path("ablations") / "embedding_sizes"
#: The table's columns (its index is the embedding): each model's metrics with their 95 % intervals.
COLUMNS = ("dimensions", *(f"{model} {m}{s}" for model in MODELS for m in METRICS for s in ("", " low", " high")),
           "seconds")


def pca_name(d: int) -> str:
    """A PCA row's name."""
    return f"PCA-{d}"


def embedded_name(kind: str, d: int) -> str:
    """The row of the run's own latent (`embedded.h5`): the DVE's (the paper's at three dimensions), or the
    run's PCA where chapter 4 embedded with one (`embedding: pca`)."""
    if kind == pca.KIND:
        return f"the run's PCA, {d}-D (embedded.h5)"
    return f"DVE, {d}-D" + (" (the paper's)" if d == 3 else "")


def check_latents(latents: list[int] | tuple[int, ...], n_channels: int | None = None) -> tuple[int, ...]:
    """The PCA sizes in increasing order; an empty list, a size below 1, a size listed twice or one above
    the spectra's channels is refused in one line."""
    sizes = tuple(sorted(int(d) for d in latents))
    if not sizes:
        raise ValueError("budget_pca_latents needs at least one PCA size, got an empty list")
    if sizes[0] < 1:
        raise ValueError(f"budget_pca_latents: a PCA has at least one component, got {list(latents)}")
    if len(set(sizes)) < len(sizes):
        raise ValueError(f"budget_pca_latents lists a size twice: {list(latents)}")
    if n_channels is not None and sizes[-1] > n_channels:
        raise ValueError(f"budget_pca_latents: spectra of {n_channels} channels have at most {n_channels} "
                         f"principal components, {sizes[-1]} asked")
    return sizes


@dataclasses.dataclass(frozen=True)
class SizesConfig:
    """What the comparison trains and fits: the PCA sizes (`budget_pca_latents`), the first `images`
    training images every decoder learns from (`budget_embed_images`), the PCA's training spectra
    (drawn with `seed`), and the pooled decoder's steps and pooling strengths (chapter 7's)."""

    latents: tuple[int, ...]
    images: int
    spectra: int
    steps: int
    weights: tuple[float, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "latents", check_latents(self.latents))
        object.__setattr__(self, "weights", tuple(self.weights))
        for name in ("images", "spectra", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"the embedding sizes need {name} >= 1, got {getattr(self, name)}")


def training_images(emb: EmbeddedStore, n: int) -> np.ndarray:
    """The first n training images (all of them where the split has fewer): every embedding's decoders'."""
    return emb.indices("train")[:n]


def fit_pca(store: Store, cfg: SizesConfig) -> pca.PCAEncoder:
    """The PCA at the largest size, fitted on `cfg.spectra` training spectra drawn with the seed as the
    DVE's are drawn (`dataset.sample_spectra`); its latent clusters are not used here (one)."""
    check_latents(cfg.latents, len(store.energy))
    counts = dataset.sample_spectra(store, "train", cfg.spectra, cfg.seed).counts
    return pca.fit(counts, pca.PCAConfig(len(store.energy), cfg.latents[-1], 1, cfg.seed))


def projected(store: Store, model: pca.PCAEncoder, indices: np.ndarray) -> np.ndarray:
    """The samples' cubes, drawn one at a time as the dataset drew them, projected: (n, d, H, W) float16,
    as `embedded.h5` holds the run's latent."""
    first = dve.embed_cube(model, store.synthesis(int(indices[0])).cube())
    out = np.empty((len(indices), *first.shape), first.dtype)
    out[0] = first
    for j, i in enumerate(indices[1:], 1):
        out[j] = dve.embed_cube(model, store.synthesis(int(i)).cube())
    return out


def embeddings(store: Store, emb: EmbeddedStore, cfg: SizesConfig, model: pca.PCAEncoder, name: str
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{row: (training latents (n, d, H, W), test latents)}: the run's own latent (`name`) of the training
    images and test crops, then each PCA size, the first d components of one projection at the largest."""
    train, test = training_images(emb, cfg.images), emb.indices("test")
    out = {name: (np.stack([emb.embedded(int(i)) for i in train]), np.stack([emb.embedded(int(i)) for i in test]))}
    largest = projected(store, model, train), projected(store, model, test)
    return {**out, **{pca_name(d): (largest[0][:, :d], largest[1][:, :d]) for d in cfg.latents}}


def segment_means(latents: np.ndarray, syntheses: list[synth.Synthesis]) -> np.ndarray:
    """Latents (n, d, H, W) with every pixel replaced by the mean over its true segment: its cluster, with
    the clusters of one mixture merged as the latent oracle merges them (`information.first_alike`)."""
    out = np.empty(latents.shape, np.float32)
    for j, s in enumerate(syntheses):
        segment = information.first_alike(s.mixtures)[s.labels].ravel()
        z = latents[j].reshape(len(latents[j]), -1).astype(np.float64)
        sums = np.zeros((segment.max() + 1, len(z)))
        np.add.at(sums, segment, z.T)
        means = sums / np.maximum(np.bincount(segment, minlength=len(sums)), 1)[:, None]
        out[j] = means[segment].T.reshape(latents[j].shape)
    return out


def decoded(train_x: np.ndarray, train_rgb: np.ndarray, test_x: np.ndarray, train_syntheses: list[synth.Synthesis],
            syntheses: list[synth.Synthesis], cfg: SizesConfig, folder: Path) -> dict[str, np.ndarray]:
    """Every model's test predictions (n, 3, H, W) from one embedding: the oracle on each test latent,
    perfect pooling (a per-pixel MLP on the segment means of the training and test latents), the per-pixel
    MLP and the pooled decoder trained on the training latents and colours."""
    preds = {ORACLE: np.stack([s.cluster_rgb[latent_oracle_labels(z.astype(np.float32), s.labels, s.mixtures)]
                               .transpose(2, 0, 1).astype(np.float32) for z, s in zip(test_x, syntheses)])}
    inputs = {SEGMENTS: (segment_means(train_x, train_syntheses), segment_means(test_x, syntheses), ()),
              PIXEL_MLP: (train_x, test_x, ()), POOLED: (train_x, test_x, cfg.weights)}
    for name, (x, x_test, weights) in inputs.items():
        pc = pooled.PooledConfig(in_channels=x.shape[1], weights=weights, steps=cfg.steps, seed=cfg.seed)
        module = pooled.train(x, train_rgb, pc, folder / name.replace(" ", "_"))
        preds[name] = recolour.predict(module, x_test)
    return {name: preds[name] for name in MODELS}


def table(rows: list[dict]) -> pd.DataFrame:
    """The rows in `COLUMNS`' order, indexed by embedding."""
    return pd.DataFrame(rows).set_index("embedding")[list(COLUMNS)].astype({"dimensions": int})


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the book shows it: each model's test MS-SSIM with its 95 % interval, one column a model."""
    out = pd.DataFrame({"dimensions": table["dimensions"]})
    for model in MODELS:
        m = f"{model} ms_ssim"
        out[model] = [f"{v:.4f} [{lo:.4f}, {hi:.4f}]" for v, lo, hi in
                      zip(table[m], table[f"{m} low"], table[f"{m} high"])]
    return out


def first_components(model: pca.PCAEncoder, d: int) -> pca.PCAEncoder:
    """The PCA of the first d components of `model`: the PCA-d that a fit at d gives (nested), as an encoder."""
    part = pca.PCAEncoder(dataclasses.replace(model.cfg, latent_dim=d))
    with torch.no_grad():
        part.mean.copy_(model.mean)
        part.encoder.weight.copy_(model.encoder.weight[:d])
        part.explained.copy_(model.explained[:d])
        part.centroids.copy_(model.centroids[:, :d])
    return part.eval()


def keep_largest(folder: Path, model: pca.PCAEncoder, trained: Path) -> None:
    """The largest PCA's pooled decoder (`trained`, `pooled.train`'s file) and its encoder, written to
    `folder` as `pooled.pt` and `encoder.ckpt` (a PCA checkpoint `dve.load` reads), each atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "encoder.ckpt") as tmp:
        torch.save(pca.checkpoint(model), tmp)
    with atomic_path(folder / "pooled.pt") as tmp:
        tmp.write_bytes(trained.read_bytes())


def measure(store: Store, emb: EmbeddedStore, cfg: SizesConfig, name: str, keep: Path | None = None
            ) -> tuple[pd.DataFrame, dict[str, dict[str, dict[str, np.ndarray]]]]:
    """The table (`table`) and every test image's scores ({row: {model: {metric: (n,)}}}); with `keep`, the
    largest PCA's pooled decoder and encoder are kept there (`keep_largest`)."""
    test = emb.indices("test")
    paintings, syntheses = store.painting[test], [store.synthesis(int(i)) for i in test]
    target = torch.from_numpy(np.stack([store.rgb(int(i)) for i in test])).permute(0, 3, 1, 2).float() / 255.0
    train = training_images(emb, cfg.images)
    train_rgb, train_syntheses = np.stack([emb.rgb(int(i)) for i in train]), [store.synthesis(int(i)) for i in train]
    rows, per_image = [], {}
    fitted = fit_pca(store, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        for row, (train_x, test_x) in embeddings(store, emb, cfg, fitted, name).items():
            start = time.perf_counter()
            preds = decoded(train_x, train_rgb, test_x, train_syntheses, syntheses, cfg,
                            Path(tmp) / row.replace(" ", "_"))
            per_image[row] = {model: scores(p, target) for model, p in preds.items()}
            found = {"embedding": row, "dimensions": train_x.shape[1], "seconds": time.perf_counter() - start}
            for model, scored in per_image[row].items():
                r = rung_row(model, "model", scored, paintings)
                found.update({f"{model} {c}": r[c] for m in METRICS for c in (m, f"{m} low", f"{m} high")})
            rows.append(found)
        if keep is not None:
            largest = pca_name(cfg.latents[-1])
            keep_largest(Path(keep), first_components(fitted, cfg.latents[-1]),
                         Path(tmp) / largest / POOLED.replace(" ", "_") / "pooled.pt")
    return table(rows), per_image


def paired(model: np.ndarray, reference: np.ndarray, paintings: np.ndarray) -> dict[str, float]:
    """`model`'s per-image scores minus `reference`'s: the mean and its 95 % interval over paintings."""
    diff = np.asarray(model, float) - np.asarray(reference, float)
    low, high = metrics.bootstrap_interval(diff, paintings)
    return {"gain": float(diff.mean()), "low": low, "high": high}


def gains(table: pd.DataFrame, per_image: dict, paintings: np.ndarray, name: str) -> dict[str, dict]:
    """The pooled decoder's paired MS-SSIM gains: from the smallest PCA to the largest (`size`), and from the
    run's own latent to the PCA of its size, or the smallest PCA where none has it (`versus_run`)."""
    pcas = table.drop(index=name)
    score = {row: per_image[row][POOLED]["ms_ssim"] for row in table.index}
    small, large = pcas.index[0], pcas.index[-1]
    same = pcas.index[pcas["dimensions"] == table.loc[name, "dimensions"]]
    peer = same[0] if len(same) else small
    out = {"versus_run": {"pca": peer, **paired(score[peer], score[name], paintings)}}
    if large != small:
        out["size"] = {"from": small, "to": large, **paired(score[large], score[small], paintings)}
    return out


def sentence(table: pd.DataFrame, found: dict[str, dict], name: str) -> str:
    """What the size adds to the best model (the pooled decoder) and whether the run's latent and a PCA of
    its size differ, paired image by image, in words (`prose.paired`)."""
    column = f"{POOLED} ms_ssim"
    words = []
    if "size" in found:
        s = found["size"]
        words.append(f"With the pooled decoder, going from {s['from']} to {s['to']} takes the test MS-SSIM from "
                     f"{table.loc[s['from'], column]:.4f} to {table.loc[s['to'], column]:.4f}, a paired gain of "
                     f"{prose.paired(s['gain'], (s['low'], s['high']))}.")
    cap = f"{SEGMENTS} ms_ssim"
    reach = [f"{table.loc[row, cap]:.4f} [{table.loc[row, cap + ' low']:.4f}, {table.loc[row, cap + ' high']:.4f}] "
             f"on “{row}”" for row in dict.fromkeys((name, table.index[-1]))]
    words.append(f"Perfect pooling, each pixel given its true segment's mean latent, reaches {' and '.join(reach)}: "
                 f"the most any pooling of each latent can hand a decoder of one pixel.")
    v = found["versus_run"]
    words.append(f"{v['pca']} against the run's own latent, “{name}”, with the same pooled decoder: "
                 f"{table.loc[v['pca'], column]:.4f} against {table.loc[name, column]:.4f}, a paired difference of "
                 f"{prose.paired(v['gain'], (v['low'], v['high']))}.")
    return " ".join(words)


class Sizes(NamedTuple):
    """What chapter 7 shows of the comparison: the table, its paired gains, its sentence and its seconds."""

    table: pd.DataFrame
    gains: dict[str, dict]
    sentence: str
    seconds: float


def run(store: Store, emb: EmbeddedStore, cfg: SizesConfig, kind: str, results: Path, keep: Path | None = None
        ) -> Sizes:
    """Chapter 7's comparison of embedding sizes on the budget's test crops, written to `results`
    (`result_files.write_embedding_sizes`); `kind` is the run's embedding (`dve` or `pca`). With `keep`, the
    largest PCA's pooled decoder and its encoder are kept in that folder (for export)."""
    start = time.perf_counter()
    name = embedded_name(kind, int(emb.shape[1]))
    found, per_image = measure(store, emb, cfg, name, keep)
    test = emb.indices("test")
    paired_gains = gains(found, per_image, store.painting[test], name)
    text = sentence(found, paired_gains, name)
    seconds = time.perf_counter() - start
    result_files.write_embedding_sizes(results, found, paired_gains, text, seconds)
    return Sizes(found, paired_gains, text, seconds)
