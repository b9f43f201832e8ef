"""Chapter 4's comparison of the DVE's clustering terms, on the same spectra, over several training seeds.

Every variant of `dve_losses.CLUSTERINGS` is trained on the DVE stage's spectra with the stage's settings,
once per seed (the seed changes initialisation, batch order, dropout and K-means draws, not the spectra).
Each trained model is scored where chapter 4 scores the embedding (k-NN pigment accuracy, latent
silhouette) and where chapter 7 uses it without a learned model: the cluster lookup (each latent cluster
gets its training pixels' mean colour), fitted and scored on a seeded subset of the dataset's samples. A
PCA of the spectra with as many components as the DVE's latent (`dve_latent`: PCA-3 at the paper's size),
scored the same way, is the baseline with no training: the encoder `embedding: pca` embeds with.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from einops import rearrange
from scipy import stats

from . import dve, pca
from .. import metrics, training
from ..models.baselines import ClusterColour
from .dve_losses import CLUSTERINGS

#: Scores of every run, each summarised over seeds as a mean and a 95 % interval.
SCORES = ("lookup_ms_ssim", "knn_accuracy_heldout_pixels", "knn_accuracy_test_paintings", "latent_silhouette",
          "training_seconds", "undefined_batches")


def pca_name(latent_dim: int) -> str:
    """The PCA baseline's row for a latent of `latent_dim`."""
    return f"PCA-{latent_dim} of the spectra (no training)"


PCA = pca_name(3)  # the paper's latent size


def is_pca(variant: str) -> bool:
    """Whether a row of the comparison is the PCA baseline (of any latent size), not a trained variant."""
    return variant.startswith("PCA-")


def lookup_samples(store, n: int, seed: int) -> dict[str, np.ndarray]:
    """At most n training and n test samples, a seeded pick, for the cluster lookup's fit and score."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 41]))
    picks = {}
    for split in ("train", "test"):
        index = store.indices(split)
        picks[split] = np.sort(rng.choice(index, min(n, len(index)), replace=False))
    return picks


def embed_samples(encoders: dict, store, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Every sample's cube drawn once and embedded by every encoder ({name: counts (n, E) -> z (n, d)}):
    {name: (len(indices), d, H, W) float16}, as the embedding stage stores them."""
    out = {name: [] for name in encoders}
    for i in indices:
        cube = store.cube(int(i))
        counts = rearrange(cube, "h w e -> (h w) e")
        for name, encode in encoders.items():
            z = encode(counts)
            out[name].append(rearrange(z, "(h w) c -> c h w", h=cube.shape[0]).astype(np.float16))
    return {name: np.stack(images) for name, images in out.items()}


def lookup_ms_ssim(centroids: np.ndarray, train: np.ndarray, test: np.ndarray, train_rgb: np.ndarray,
                   test_rgb: np.ndarray) -> float:
    """Mean test MS-SSIM of chapter 7's cluster lookup fitted on the training images."""
    from ..evaluation.evaluate import rgb_tensor

    lookup = ClusterColour(centroids).fit([(train, train_rgb)])
    pred = torch.from_numpy(lookup.predict(test.astype(np.float32)))
    return float(metrics.per_image(pred, rgb_tensor(test_rgb))["ms_ssim"].mean())


def undefined_batches(metrics_csv: Path) -> int:
    """Batches (training and validation) whose K-means found a single cluster, from a run's metrics."""
    table = pd.read_csv(metrics_csv)
    columns = [c for c in ("train_clust_undefined", "val_clust_undefined") if c in table]
    return int(table[columns].sum().sum()) if columns else 0


def pca_baseline(spectra: dict, config: dve.DVEConfig) -> pca.PCAEncoder:
    """The PCA of the normalised training spectra with the DVE's latent size and clusters, and K-means
    centroids of its training latents: `pca.fit`, as `embedding: pca` fits it (seeded by the DVE's seed)."""
    return pca.fit(spectra["train"].counts, pca.PCAConfig(config.n_channels, config.latent_dim, config.n_clusters,
                                                          config.seed))


def compare(run: Path, stage: dve.Stage, seeds: list[int], batch_size: int, epochs: int, samples: int,
            scale: training.Scale | None = None, variants: tuple[str, ...] = CLUSTERINGS,
            own_scores: dict | None = None) -> pd.DataFrame:
    """Train every variant at every seed on the stage's spectra and score it; one row per (variant, seed)
    plus the PCA baseline of the same latent size. The stage's own training (where it trained a DVE) is
    reused for its variant and seed; every other training goes to `run/dve_compare/<variant>_seed<seed>/`
    and is reused when finished. The variants of a seed differ only after the warm-up: all but the first
    start from its warm-up's end (the stage's training at the stage's seed; `dve.train`, `warmup_from`).
    `own_scores` is the stage's trained DVE's `dve.evaluate_latent`, where chapter 4 has computed it already."""
    from ..synthetic.dataset import Store
    from ..device import torch_device

    store = Store(Path(run) / "dataset.h5")
    scale = scale or training.Scale("gpu" if torch_device("auto") == "cuda" else "cpu")
    spectra = stage.spectra
    models, rows = {}, []
    warm = {stage.config.seed: Path(run) / "dve"}  # per seed, the training whose warm-up the others start from
    for variant in variants:
        for seed in seeds:
            config = replace(stage.config, clustering=variant, seed=seed)
            own = config == stage.config and isinstance(stage.model, dve.DVE)
            folder = Path(run) / "dve" if own else Path(run) / "dve_compare" / f"{variant}_seed{seed}"
            model, metrics_csv = dve.train(spectra["train"].counts, spectra["val"].counts, config, epochs,
                                           batch_size, folder, scale=scale, data_key=stage.data_key,
                                           warmup_from=warm.get(seed))
            warm.setdefault(seed, folder)
            latent = (own_scores if own and own_scores is not None else
                      dve.evaluate_latent(model, spectra["train"], spectra["heldout"], spectra["test"], baseline=False))
            per_epoch = pd.read_csv(metrics_csv).groupby("epoch")["epoch_seconds"].max()
            models[(variant, seed)] = model
            rows.append({"variant": variant, "seed": seed, **{k: latent[k] for k in SCORES if k in latent},
                         "training_seconds": float(per_epoch.sum()),
                         "undefined_batches": undefined_batches(metrics_csv)})
    baseline, name = pca_baseline(spectra, stage.config), pca_name(stage.config.latent_dim)
    picks = lookup_samples(store, samples, seeds[0])
    encoders = {key: (lambda counts, m=model: dve.encode(m, counts)) for key, model in models.items()}
    encoders[name] = lambda counts: dve.encode(baseline, counts)
    images = {split: embed_samples(encoders, store, picks[split]) for split in picks}
    rgb = {split: np.stack([store.rgb(int(i)) for i in picks[split]]) for split in picks}
    for row in rows:
        key = (row["variant"], row["seed"])
        row["lookup_ms_ssim"] = lookup_ms_ssim(models[key].centroids.numpy(), images["train"][key],
                                               images["test"][key], rgb["train"], rgb["test"])
    latent = dve.evaluate_latent(baseline, spectra["train"], spectra["heldout"], spectra["test"], baseline=False)
    rows.append({"variant": name, "seed": seeds[0], **{k: latent[k] for k in SCORES if k in latent},
                 "lookup_ms_ssim": lookup_ms_ssim(baseline.centroids.numpy(), images["train"][name],
                                                  images["test"][name], rgb["train"], rgb["test"]),
                 "training_seconds": 0.0, "undefined_batches": 0})
    table = pd.DataFrame(rows)
    table.attrs["lookup_samples"] = {split: len(v) for split, v in picks.items()}
    return table


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant: the number of seeds, and each score's mean with its 95 % Student-t interval over seeds
    (no interval from a single seed)."""
    rows = {}
    for variant, group in runs.groupby("variant", sort=False):
        row = {"seeds": len(group)}
        for score in SCORES:
            values = group[score].to_numpy(dtype=float)
            mean = float(values.mean())
            half = (float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
                    if len(values) > 1 else float("nan"))
            row.update({score: mean, f"{score} low": mean - half, f"{score} high": mean + half})
        rows[variant] = row
    return pd.DataFrame(rows).T.rename_axis("variant")


def best_downstream(summary: pd.DataFrame) -> str:
    """The trained variant with the highest mean cluster-lookup MS-SSIM."""
    trained = summary[[not is_pca(v) for v in summary.index]]
    return str(trained["lookup_ms_ssim"].astype(float).idxmax())


def run_comparison(run_dir: Path, stage: dve.Stage, seeds: list[int], batch_size: int, epochs: int, samples: int,
        results: Path, own_scores: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The comparison as chapter 4 runs it: every run's scores and their summary over seeds, written to
    `results/dve_compare_runs.csv` and `results/dve_compare.csv` (atomically), and returned. `own_scores`:
    the chapter's scores of the stage's model (`dve.evaluate_latent`), reused for its row."""
    from ..io import atomic_path, write_json

    runs = compare(run_dir, stage, seeds, batch_size, epochs, samples, own_scores=own_scores)
    summary = summarise(runs)
    for table, name in ((runs, "dve_compare_runs.csv"), (summary, "dve_compare.csv")):
        with atomic_path(Path(results) / name) as tmp:
            table.to_csv(tmp)
    write_json(Path(results) / "dve_compare.json", {"best_downstream": best_downstream(summary), "seeds": seeds,
                                                    "lookup_samples": runs.attrs["lookup_samples"]})
    return runs, summary


def verdict(summary: pd.DataFrame, default: str, lookup: dict[str, int]) -> str:
    """One paragraph (Markdown) that says which variant measures best downstream, with its numbers, and
    whether it is this run's `dve_clustering`."""
    def cell(variant: str) -> str:
        row = summary.loc[variant]
        spread = (f" (95 % interval {row['lookup_ms_ssim low']:.4f} to {row['lookup_ms_ssim high']:.4f})"
                  if np.isfinite(row["lookup_ms_ssim low"]) else "")
        return f"`{variant}` {row['lookup_ms_ssim']:.4f}{spread}"

    best = best_downstream(summary)
    baseline = next(v for v in summary.index if is_pca(v))
    trained = summary[[not is_pca(v) for v in summary.index]].sort_values("lookup_ms_ssim", ascending=False)
    seeds = int(trained["seeds"].min())
    text = (f"Downstream, chapter 7's cluster lookup fitted on {lookup['train']} training samples reaches a mean "
            f"MS-SSIM on {lookup['test']} test samples of " + "; ".join(cell(v) for v in trained.index) +
            f" over {seeds} seed{'s' if seeds > 1 else ''}, against {summary.loc[baseline, 'lookup_ms_ssim']:.4f} "
            f"for the {baseline.split()[0]} baseline. ")
    if len(trained) > 1 and seeds > 1:
        runner_up = trained.index[1]
        overlap = trained.loc[best, "lookup_ms_ssim low"] <= trained.loc[runner_up, "lookup_ms_ssim high"]
        text += (f"The lead of `{best}` over `{runner_up}` is {'within' if overlap else 'beyond'} the "
                 f"seed-to-seed spread. ")
    text += (f"`{best}` measures best, and it is this run's `dve_clustering`." if best == default else
             f"`{best}` measures best here; this run's `dve_clustering` is `{default}`.")
    return text


def readable(summary: pd.DataFrame, scores: tuple[str, ...] = SCORES) -> pd.DataFrame:
    """The summary as the book shows it: per score "mean (low to high)", the interval left out where there
    is none."""
    def cell(row: pd.Series, score: str) -> str:
        digits = 1 if score == "training_seconds" else 0 if score == "undefined_batches" else 4
        text = f"{row[score]:.{digits}f}"
        return text + (f" ({row[f'{score} low']:.{digits}f} to {row[f'{score} high']:.{digits}f})"
                       if np.isfinite(row[f"{score} low"]) else "")

    return pd.DataFrame({score: [cell(row, score) for _, row in summary.iterrows()] for score in scores},
                        index=summary.index).assign(seeds=summary["seeds"].astype(int))
