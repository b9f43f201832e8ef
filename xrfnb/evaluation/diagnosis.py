"""Where a recolouring model's error comes from: the patch grid, the MS-SSIM scales, the latent clusters,
and which change to the paper's SmallUViT gains most.

All of it is measured on test predictions against their targets (N x 3 x H x W in [0, 1]) with the
paper's own two measures: the redmean distance per pixel (`metrics.srgb_distance`) and MS-SSIM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F
from torchmetrics.functional.image import structural_similarity_index_measure as _ssim

from .. import metrics
from .compared import COMPARED, PAPER


def patch_grid(pred: torch.Tensor, target: torch.Tensor, patch: int) -> dict:
    """Error by position inside the `patch` x `patch` token grid.

    Returns `map` (patch x patch mean redmean distance at each position inside a patch, over all
    patches and images), `border` and `interior` (mean over the positions on the patch's outer ring
    and inside it), their `ratio`, and `grid_share`: the fraction of the total error that would go if
    the border pixels had the interior's error (the cost of the visible grid).
    """
    d = metrics.srgb_distance(torch.as_tensor(pred).float().clamp(0, 1), torch.as_tensor(target).float())
    n, h, w = d.shape
    if h % patch or w % patch:
        raise ValueError(f"images of {h} x {w} px do not tile into {patch} x {patch} patches")
    grid = d.reshape(n, h // patch, patch, w // patch, patch).mean((0, 1, 3)).double().numpy()
    ring = np.ones((patch, patch), bool)
    ring[1:-1, 1:-1] = False
    border, interior = float(grid[ring].mean()), float(grid[~ring].mean())
    overall = float(grid.mean())
    share = ring.mean() * (border - interior) / overall if overall > 0 else 0.0
    return {"map": grid, "patch": patch, "border": border, "interior": interior,
            "ratio": border / interior if interior > 0 else float("inf"), "grid_share": float(share)}


def ms_ssim_scales(pred: torch.Tensor, target: torch.Tensor) -> pd.DataFrame:
    """MS-SSIM scale by scale, as torchmetrics computes it (contrast-structure at the finer scales,
    the full SSIM at the coarsest, each at half the resolution of the one before).

    One row per scale: its pixel size, weight (beta), mean value, and its part of the MS-SSIM deficit:
    -log MS-SSIM = sum over scales of -beta log(value), averaged over images; `share` is each scale's
    fraction of that sum. The product of value^beta per image is MS-SSIM itself.
    """
    p, t = torch.as_tensor(pred).float().clamp(0, 1), torch.as_tensor(target).float()
    betas = metrics.ms_ssim_betas(min(p.shape[-2:]))
    values = []
    for j in range(len(betas)):
        sim, cs = _ssim(p, t, data_range=1.0, reduction="none", return_contrast_sensitivity=True)
        values.append(sim if j == len(betas) - 1 else cs)
        p, t = F.avg_pool2d(p, 2), F.avg_pool2d(t, 2)
    v = torch.stack(values, 1).double()  # (N, scales)
    deficit = -torch.tensor(betas, dtype=torch.float64) * v.clamp_min(1e-6).log()
    mean_deficit = deficit.mean(0).numpy()
    return pd.DataFrame({"pixel size": [2 ** j for j in range(len(betas))], "beta": betas,
                         "value": v.mean(0).numpy(), "deficit": mean_deficit,
                         "share": mean_deficit / max(mean_deficit.sum(), 1e-12)},
                        index=pd.Index(range(1, len(betas) + 1), name="scale"))


def by_cluster(pred: torch.Tensor, target: torch.Tensor, labels: np.ndarray, n_clusters: int) -> pd.DataFrame:
    """Error by latent cluster: for each cluster (`labels`, N x H x W, e.g. `ClusterColour.assign`), its
    share of the pixels, mean redmean distance and share of the total error, worst cluster first."""
    d = metrics.srgb_distance(torch.as_tensor(pred).float().clamp(0, 1), torch.as_tensor(target).float())
    labels = np.asarray(labels).ravel()
    if labels.size != d.numel():
        raise ValueError(f"{labels.size} cluster labels for {d.numel()} pixels")
    d = d.double().numpy().ravel()
    pixels, error = np.bincount(labels, minlength=n_clusters), np.bincount(labels, d, minlength=n_clusters)
    table = pd.DataFrame({"pixel share": pixels / pixels.sum(), "mean error": error / np.maximum(pixels, 1),
                          "error share": error / error.sum()}, index=pd.Index(range(n_clusters), name="cluster"))
    return table[pixels > 0].sort_values("error share", ascending=False)


def points_at(name: str, gain: float, low: float, high: float) -> str:
    """What the compared model `name` says about the part of the paper's model it changes, read from the
    sign of its MS-SSIM `gain` over the paper's model and whether the gain's 95 % interval (`low`,
    `high`) excludes zero: the part is a cause of error only when the change measurably does better."""
    v = COMPARED[name]
    if low > 0:
        return f"{v.cause} ({v.other} does better)"
    if high < 0:
        return f"not {v.cause}: it helps ({v.other} does worse)"
    return f"nothing measurable about {v.cause} ({v.other} is within the paper model's interval)"


def gains(comparison: pd.DataFrame) -> pd.DataFrame:
    """Each compared model's test MS-SSIM and sRGB loss against the paper's SmallUViT at the same budget,
    largest MS-SSIM gain first, with the gain's 95 % interval and what it points at (`points_at`).

    The gain's interval carries the paper model's 95 % interval over the test paintings to the difference:
    model − [paper high, paper low]. It excludes zero exactly when the model's MS-SSIM lies outside the
    paper model's interval, the test `prose.versus` words for every comparison of the book.
    """
    base = comparison.loc[PAPER]
    rows = {}
    for name in comparison.index:
        if name not in COMPARED or name == PAPER:
            continue
        ms = comparison.loc[name, "ms_ssim"]
        gain, low, high = ms - base["ms_ssim"], ms - base["ms_ssim high"], ms - base["ms_ssim low"]
        rows[name] = {"ms_ssim gain": gain, "gain low": low, "gain high": high,
                      "srgb_loss change": comparison.loc[name, "srgb_loss"] - base["srgb_loss"],
                      "points at": points_at(name, gain, low, high)}
    return pd.DataFrame(rows).T.rename_axis("change").sort_values("ms_ssim gain", ascending=False)


def summary(grid: dict, scales: pd.DataFrame, clusters: pd.DataFrame, gain: pd.DataFrame) -> pd.DataFrame:
    """The diagnosis in one table: one measured number per candidate cause."""
    finest = scales.iloc[0]
    worst = clusters.loc[clusters["mean error"].idxmax()]  # the cluster whose pixels are worst recoloured
    best = gain.iloc[0]
    rows = [
        ("patch grid", f"error on patch borders / inside ({grid['patch']} px patches)", grid["ratio"]),
        ("patch grid", "share of the error the grid adds", grid["grid_share"]),
        ("fine detail", f"share of the MS-SSIM deficit at the finest scale ({int(finest['pixel size'])} px)",
         finest["share"]),
        ("fine detail", "scale with the largest share of the deficit", int(scales["share"].idxmax())),
        ("colour by cluster", f"mean error of the worst cluster ({int(worst.name)}) / mean error of all pixels",
         worst["mean error"] / float((clusters["mean error"] * clusters["pixel share"]).sum())),
        ("ablations", f"largest MS-SSIM gain over the paper's model ({best.name})", best["ms_ssim gain"]),
    ]
    return pd.DataFrame(rows, columns=["cause", "measure", "value"])


def dominant_cause(grid: dict, scales: pd.DataFrame, gain: pd.DataFrame) -> str:
    """A sentence naming the dominant cause of the paper's model's error, from the measured numbers: the
    change that gains most at the same budget, with the grid and scale measurements beside it."""
    best = gain.iloc[0]
    top_scale = int(scales["share"].idxmax())
    evidence = (f"its error is {grid['ratio']:.2f} times higher on the borders of its {grid['patch']}-pixel patches "
                f"than inside them (the grid adds {100 * grid['grid_share']:.1f} % of the error), and MS-SSIM "
                f"scale {top_scale} ({int(scales.loc[top_scale, 'pixel size'])} px) holds "
                f"{100 * scales.loc[top_scale, 'share']:.0f} % of its deficit")
    if best["gain low"] <= 0:
        closest = "the largest gain" if best["ms_ssim gain"] > 0 else "the closest"
        return (f"No change tried measurably improves on the paper's SmallUViT at this budget ({closest}, "
                f"{best.name}, changes MS-SSIM by {best['ms_ssim gain']:+.4f}, 95 % interval "
                f"{best['gain low']:+.4f} to {best['gain high']:+.4f}, which holds zero); {evidence}.")
    return (f"The dominant cause is {best['points at']}: the largest gain over the paper's SmallUViT at the same "
            f"budget comes from {best.name} ({best['ms_ssim gain']:+.4f} MS-SSIM, 95 % interval "
            f"{best['gain low']:+.4f} to {best['gain high']:+.4f}, beyond the paper model's spread); {evidence}.")
