"""What a synthetic datacube carries about colour, measured on the data themselves.

The generator turns each colour cluster into a mixture of pigment spectra and draws `counts` photons per
pixel from it. How much of the colour survives that is a property of the data, not of any model:

* **pigments kept per cluster**: the similarity threshold exists "to reduce the number of pigments for
  each pixel" (the paper); when every cluster keeps every pigment, the clusters' mixtures look alike;
* **nats of colour per pixel**: counts x sum_k share_k KL(p_k || p_mean), the expected log-likelihood
  ratio that one pixel's photons give for its own cluster's mixture against the image's mean mixture;
* **the oracle colour floor**: decode each pixel's counts to the maximum-likelihood cluster given the
  true mixtures and paint it that cluster's colour. No per-pixel model can do better on average; pooling
  the counts over k x k neighbourhoods shows what a model that sees its neighbours could reach.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import ndimage

from .. import metrics
from ..palette import physics
from . import synth
from ..palette.pigments import Palette

if TYPE_CHECKING:
    import pandas as pd

TINY = 1e-12  # floor on a mixture's channel probability before taking its log


def pigments_kept(weights: np.ndarray) -> np.ndarray:
    """Number of pigments in each cluster's mixture: (K, P) weights -> (K,) counts."""
    return (np.asarray(weights) > 0).sum(1)


def colour_nats(mixtures: np.ndarray, shares: np.ndarray, counts: float) -> float:
    """counts x sum_k share_k KL(p_k || p_mean), in nats per pixel.

    Parameters
    ----------
    mixtures : (K, E) each cluster's spectrum (rows sum to 1).
    shares : (K,) fraction of the image's pixels in each cluster.
    counts : photons per pixel.
    """
    shares = np.asarray(shares, float) / np.sum(shares)
    p = np.clip(np.asarray(mixtures, float), TINY, None)
    mean = shares @ p
    kl = (p * (np.log(p) - np.log(mean))).sum(1)
    return float(counts * shares @ kl)


def first_alike(mixtures: np.ndarray, tol: float = TINY) -> np.ndarray:
    """For each cluster (K, E rows), the first cluster whose mixture equals its own within `tol`.

    Clusters whose pigments pass the threshold alike draw from one mixture, up to rounding (about 1e-18),
    and nothing in their counts tells them apart; which of them wins a likelihood comparison is rounding.
    """
    m = np.asarray(mixtures, np.float64)
    first = np.arange(len(m))
    for k in range(1, len(m)):
        alike = np.flatnonzero(np.abs(m[:k] - m[k]).max(1) <= tol)
        if len(alike):
            first[k] = first[alike[0]]
    return first


def oracle_labels(cube: np.ndarray, mixtures: np.ndarray, pool: int = 1) -> np.ndarray:
    """Maximum-likelihood cluster of every pixel (H, W) given the true mixtures (K, E).

    With `pool` > 1 each pixel is decided on the counts summed over its pool x pool neighbourhood
    (edges repeat the border pixels). Summing and the log-likelihood are both linear in the counts, so the
    sum is taken over the K log-likelihoods rather than the E channels: E / K times less work. Clusters of
    one mixture (`first_alike`) are decided as one, and their pixels go to the first of them, so that no
    decision depends on rounding.
    """
    return _decide(*_log_likelihoods(cube, mixtures), pool)


def _log_likelihoods(cube: np.ndarray, mixtures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct mixtures' clusters (D,) and every pixel's log-likelihood under each (H, W, D)."""
    distinct = np.unique(first_alike(mixtures))
    log_p = np.log(np.clip(np.asarray(mixtures, np.float64)[distinct], TINY, None))
    counts = np.asarray(cube, np.float64).reshape(-1, cube.shape[-1])
    return distinct, (counts @ log_p.T).reshape(*cube.shape[:2], len(distinct))


def _decide(distinct: np.ndarray, loglik: np.ndarray, pool: int) -> np.ndarray:
    """The most likely cluster of every pixel, on log-likelihoods summed over pool x pool neighbourhoods."""
    if pool > 1:
        loglik = ndimage.uniform_filter(loglik, size=(pool, pool, 1), mode="nearest") * pool * pool
    return distinct[loglik.argmax(-1)]


#: The scores of every floor: the paper's loss and metric, the index its figures show, and CIEDE2000.
FLOOR_METRICS = ("srgb_loss", "delta_e2000", "ms_ssim", "uiqi")


def scores(pred_rgb: np.ndarray, target: torch.Tensor) -> dict[str, float]:
    """The FLOOR_METRICS of one image (H, W, 3 floats in [0, 1]) against a 1 x 3 x H x W target."""
    pred = torch.as_tensor(np.asarray(pred_rgb, np.float32)).permute(2, 0, 1)[None]
    values = metrics.per_image(pred, target)
    return {name: float(values[name][0]) for name in FLOOR_METRICS}


def oracle_floor(s: synth.Synthesis, rgb: np.ndarray, cube: np.ndarray, pools: tuple[int, ...] = (1, 3, 5)
                 ) -> list[dict]:
    """The oracle's colour error against the true image, per pool size.

    Returns one dict per pool: `pool`, `accuracy` (share of pixels decoded to their own cluster) and the
    FLOOR_METRICS of the decoded colours against `rgb` (H, W, 3 uint8).
    """
    target = torch.as_tensor(np.asarray(rgb, np.float32) / 255.0).permute(2, 0, 1)[None]
    distinct, loglik = _log_likelihoods(cube, s.mixtures)  # once for every pool
    rows = []
    for pool in pools:
        labels = _decide(distinct, loglik, pool)
        rows.append({"pool": pool, "accuracy": float((labels == s.labels).mean()),
                     **scores(s.cluster_rgb[labels], target)})
    return rows


def clustered_ceiling(s: synth.Synthesis, rgb: np.ndarray) -> dict[str, float]:
    """The clustered image itself against the true image: the most any model of these data can recover.

    Every pixel of a cluster draws its counts from one mixture, so nothing in the cube tells two pixels of
    a cluster apart; a model that decodes every cluster perfectly still paints the cluster's mean colour.
    """
    target = torch.as_tensor(np.asarray(rgb, np.float32) / 255.0).permute(2, 0, 1)[None]
    return scores(s.clustered_rgb(), target)


def measure(s: synth.Synthesis, rgb: np.ndarray, palette: Palette, threshold: float,
            pools: tuple[int, ...] = (1, 3, 5), ceiling: dict[str, float] | None = None) -> dict:
    """Every measurement of one sample: pigments kept, fallbacks, nats per pixel, the oracle floors and
    the clustered image's own scores (`..._clustered`; `ceiling` where they are known already: they depend
    on the clusters alone, `clustered_ceiling`).

    `pigments_kept` is averaged over pixels (each pixel counts its cluster's pigments); `fallbacks` is the
    number of clusters that no pigment passed, which took the single most similar pigment instead.
    """
    shares = np.bincount(s.labels.ravel(), minlength=len(s.cluster_rgb))
    floors = oracle_floor(s, rgb, s.cube(), pools)
    alpha = synth.ciede2000_similarity(s.cluster_rgb, palette.rgb)
    out = {"pigments_kept": float(pigments_kept(s.weights) @ shares / shares.sum()),
           "fallbacks": synth.fallbacks(alpha, threshold),
           "nats_per_pixel": colour_nats(s.mixtures, shares, s.counts)}
    for row in floors:
        for name in ("accuracy", *FLOOR_METRICS):
            out[f"{name}_pool{row['pool']}"] = row[name]
    out.update({f"{name}_clustered": value for name, value in (ceiling or clustered_ceiling(s, rgb)).items()})
    return out


def resynthesise(s: synth.Synthesis, palette: Palette, threshold: float, counts: int) -> synth.Synthesis:
    """The same clusters re-matched with another threshold, palette (sample model) or counts per pixel."""
    weights = synth.pigment_weights(synth.ciede2000_similarity(s.cluster_rgb, palette.rgb), threshold)
    return synth.Synthesis(labels=s.labels, cluster_rgb=s.cluster_rgb, weights=weights,
                           mixtures=synth.mixtures_of(weights, palette.spectra), seed=s.seed,
                           image_index=s.image_index, counts=counts)


def measure_all(jobs: list[tuple], workers: int = 1) -> list[dict]:
    """`measure(*job)` for every job, in order, over `workers` processes (one torch thread each).

    Every job is independent and its cube is seeded by its synthesis, so the rows do not depend on `workers`.
    """
    if workers <= 1 or len(jobs) < 2:
        return [measure(*job) for job in jobs]
    with ProcessPoolExecutor(min(workers, len(jobs)), initializer=torch.set_num_threads, initargs=(1,)) as pool:
        return list(pool.map(measure, *zip(*jobs)))


def sensitivity(samples: list[tuple[synth.Synthesis, np.ndarray]], palettes: dict[str, Palette],
                thresholds: list[float], counts: list[int], pools: tuple[int, ...] = (1, 5),
                workers: int = 1) -> pd.DataFrame:
    """Mean measurements over `samples` [(synthesis, rgb)] for every sample model x threshold x counts."""
    import pandas as pd

    cases = [(model, threshold, n) for model in palettes for threshold in thresholds for n in counts]
    ceilings = [clustered_ceiling(s, rgb) for s, rgb in samples]  # re-matching keeps the clusters: scored once
    jobs = [(resynthesise(s, palettes[model], threshold, n), rgb, palettes[model], threshold, pools, ceiling)
            for model, threshold, n in cases for (s, rgb), ceiling in zip(samples, ceilings)]
    found = iter(measure_all(jobs, workers))
    return pd.DataFrame([{"sample model": model, "threshold": threshold, "counts": n,
                          **pd.DataFrame([next(found) for _ in samples]).mean().to_dict()}
                         for model, threshold, n in cases])


def line_contrasts(s: synth.Synthesis, energy: np.ndarray, lines: dict[str, str] = synth.MAP_LINES,
                   half_width_kev: float = 0.08) -> pd.DataFrame:
    """Expected counts per pixel in each element's map window, for every cluster (rows) and element (columns).

    These are the contrasts an element map can show: the map of an element separates two clusters only
    where their expected counts differ by much more than their Poisson noise.
    """
    import pandas as pd

    table = {}
    for symbol, line in lines.items():
        window = np.abs(energy - physics.line_energy(symbol, line)) <= half_width_kev
        table[f"{symbol} {line}"] = s.counts * s.mixtures[:, window].sum(1)
    return pd.DataFrame(table).rename_axis("cluster")


def separating_elements(contrasts: pd.DataFrame, min_sigma: float = 3.0) -> list[dict]:
    """For each element map, the clusters it tells apart best and by how many standard deviations.

    The separation of the highest and lowest cluster is (high - low) / sqrt(high + low) for Poisson
    counts; only maps separating some pair by at least `min_sigma` are listed, strongest first.
    """
    found = []
    for element, counts in contrasts.items():
        high, low = counts.idxmax(), counts.idxmin()
        sigma = (counts[high] - counts[low]) / np.sqrt(max(counts[high] + counts[low], TINY))
        if sigma >= min_sigma:
            found.append({"element": element, "high": int(high), "low": int(low),
                          "counts_high": float(counts[high]), "counts_low": float(counts[low]),
                          "sigma": float(sigma)})
    return sorted(found, key=lambda row: -row["sigma"])


def store_samples(store, indices: np.ndarray) -> list[tuple[synth.Synthesis, np.ndarray]]:
    """(synthesis, RGB target) of the given samples of a `dataset.Store`."""
    return [(store.synthesis(int(i)), store.rgb(int(i))) for i in indices]


def diagnostics(samples: list[tuple[synth.Synthesis, np.ndarray]], palette: Palette, threshold: float,
                pools: tuple[int, ...] = (1, 3, 5), workers: int = 1) -> pd.DataFrame:
    """One row of `measure` per sample, as the data were generated (no re-matching)."""
    import pandas as pd

    return pd.DataFrame(measure_all([(s, rgb, palette, threshold, pools) for s, rgb in samples], workers))


def kept_distribution(samples: list[tuple[synth.Synthesis, np.ndarray]], n_pigments: int) -> pd.Series:
    """How many clusters keep 1, 2, ..., P pigments, over all the samples' clusters."""
    import pandas as pd

    kept = np.concatenate([pigments_kept(s.weights) for s, _ in samples])
    return pd.Series(np.bincount(kept, minlength=n_pigments + 1)[1:], index=range(1, n_pigments + 1),
                     name="clusters").rename_axis("pigments kept")


def best_threshold(table: pd.DataFrame, model: str, counts: int, by: str = "srgb_loss_pool1") -> float:
    """The threshold of a `sensitivity` table with the lowest oracle floor for one sample model and counts."""
    rows = table[(table["sample model"] == model) & (table["counts"] == counts)]
    return float(rows.loc[rows[by].idxmin(), "threshold"])


def floor_table(measured: pd.DataFrame, pools: tuple[int, ...] = (1, 3)) -> pd.DataFrame:
    """The data's ceiling and the oracle floors as one table: rows the clustered image and each pool,
    columns FLOOR_METRICS, means over the samples of a `diagnostics` table."""
    import pandas as pd

    rows = {"clustered image (the data's ceiling)":
            {m: measured[f"{m}_clustered"].mean() for m in FLOOR_METRICS}}
    for p in pools:
        name = "oracle floor, per pixel" if p == 1 else f"oracle floor, counts pooled {p} x {p}"
        rows[name] = {m: measured[f"{m}_pool{p}"].mean() for m in FLOOR_METRICS}
    return pd.DataFrame(rows).T.rename_axis("model")


def threshold_note(table: pd.DataFrame, model: str, counts: int, threshold: float) -> str:
    """What the sensitivity table says about the run's threshold, as a sentence computed from it.

    Names the threshold with the lowest per-pixel oracle floor; where that is not the run's threshold,
    gives both floors and why the run's threshold stands.
    """
    rows = table[(table["sample model"] == model) & (table["counts"] == counts)].set_index("threshold")
    best = best_threshold(table, model, counts)
    if threshold not in rows.index:
        return (f"the run's threshold {threshold:.2f} is not in the sensitivity table; its lowest per-pixel "
                f"floor is at {best:.2f}")
    here, there = rows.loc[threshold], rows.loc[best]
    kept = f"keeps {here['pigments_kept']:.1f} pigments per pixel"
    if best == threshold:
        return (f"the run's threshold {threshold:.2f} {kept} and has the lowest per-pixel floor of the table "
                f"(redmean {here['srgb_loss_pool1']:.3f}, ΔE₀₀ {here['delta_e2000_pool1']:.1f})")
    return (f"the lowest per-pixel floor of the table is at {best:.2f} (redmean {there['srgb_loss_pool1']:.3f}, "
            f"ΔE₀₀ {there['delta_e2000_pool1']:.1f}, {there['pigments_kept']:.1f} pigments), not at the run's "
            f"{threshold:.2f} ({kept}, redmean {here['srgb_loss_pool1']:.3f}, ΔE₀₀ "
            f"{here['delta_e2000_pool1']:.1f}). The default stays {threshold:.2f}: it was fixed on an earlier, "
            f"smaller measurement, the two floors differ by "
            f"{abs(here['srgb_loss_pool1'] - there['srgb_loss_pool1']):.3f} in redmean loss on these samples, "
            f"and changing it regenerates every cube and moves every result of the book; "
            f"`--set threshold={best:g}` runs the other choice")


def describe_separation(found: list[dict], names: list[str], top: int = 4) -> str:
    """A sentence naming, for the strongest element maps, which clusters they tell apart (from `separating_elements`).

    `names` labels the clusters (e.g. their dominant pigment).
    """
    if not found:
        return "no element map separates any two clusters by 3 standard deviations of their counting noise"
    parts = [f"{row['element']} separates cluster {row['high']} ({names[row['high']]}, "
             f"{row['counts_high']:.1f} counts per pixel) from cluster {row['low']} ({names[row['low']]}, "
             f"{row['counts_low']:.1f}) by {row['sigma']:.1f} σ" for row in found[:top]]
    return "; ".join(parts)


def dominant_names(s: synth.Synthesis, pigment_names: list[str]) -> list[str]:
    """Each cluster's pigment with the largest weight."""
    return [pigment_names[j] for j in s.weights.argmax(1)]


def both_models(palette: Palette) -> dict[str, Palette]:
    """The run's palette under its own sample model, and the other model's palette on the same axis.

    The other model is computed for the instrument the run's palette records (chapter 1's settings).
    """
    from ..palette import pigments

    out = {palette.sample or "run": palette}
    for name in physics.SAMPLE_MODELS:
        if name != palette.sample:
            out[name] = pigments.rebuilt(palette, physics.sample_model(name))
    return out
