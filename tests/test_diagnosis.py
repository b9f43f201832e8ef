"""The measured diagnosis: error by position in the patch grid, by MS-SSIM scale, by cluster; the cause."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from xrfnb.evaluation import compared, diagnosis, evaluate
from xrfnb import metrics
from xrfnb.models import recolour
from xrfnb.pipeline import budget


def images(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.avg_pool2d(torch.rand(n, 3, size + 3, size + 3, generator=g), 4, stride=1).clamp(0, 1)


def test_a_prediction_wrong_on_patch_borders_shows_the_grid():
    target = images()
    pred = target.clone()
    pred[:, 1] += 0.05
    ring = torch.zeros(64, 64, dtype=torch.bool)
    for k in range(0, 64, 16):
        ring[k, :] = ring[k + 15, :] = ring[:, k] = ring[:, k + 15] = True
    pred[:, 1, ring] += 0.2
    grid = diagnosis.patch_grid(pred.clamp(0, 1), target, 16)
    assert grid["map"].shape == (16, 16)
    assert grid["ratio"] > 3 and 0.3 < grid["grid_share"] < 1
    assert grid["map"][0, 7] > grid["map"][7, 7] and grid["map"][7, 15] > grid["map"][8, 8]


def test_an_error_spread_evenly_shows_no_grid_and_other_tilings_are_refused():
    target = images() * 0.8
    grid = diagnosis.patch_grid(target + 0.1, target, 16)
    assert grid["ratio"] == pytest.approx(1.0, abs=1e-6) and abs(grid["grid_share"]) < 1e-6
    with pytest.raises(ValueError, match="do not tile into 24 x 24 patches"):
        diagnosis.patch_grid(target, target, 24)


def test_scales_multiply_back_to_ms_ssim_and_blur_hurts_the_fine_scales_most():
    target = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    blurred = F.avg_pool2d(F.pad(target, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    scales = diagnosis.ms_ssim_scales(blurred, target)
    assert list(scales["pixel size"]) == [1, 2, 4] and scales["share"].sum() == pytest.approx(1.0)
    product = float(np.prod(scales["value"] ** scales["beta"]))
    assert product == pytest.approx(metrics.ms_ssim(blurred, target).item(), rel=1e-4)
    assert scales["value"].is_monotonic_increasing and scales["share"].idxmin() == 3  # blur: fine scales lose
    dark = target * 0.7
    shifted = diagnosis.ms_ssim_scales(dark + 0.2, dark)  # a colour offset: only the coarsest scale sees it
    assert shifted["share"].idxmax() == 3 and shifted["share"].iloc[-1] > 0.99


def test_error_by_cluster_puts_the_wrong_cluster_first():
    target = images(1, 32) * 0.8
    labels = np.zeros((1, 32, 32), int)
    labels[:, 16:] = 2
    pred = target.clone()
    pred[:, :, 16:] += 0.1
    table = diagnosis.by_cluster(pred, target, labels, 4)
    assert list(table.index) == [2, 0]  # cluster 1 and 3 have no pixels
    assert table.loc[2, "pixel share"] == pytest.approx(0.5) and table.loc[2, "error share"] > 0.99
    with pytest.raises(ValueError, match="cluster labels for"):
        diagnosis.by_cluster(pred, target, labels[:, :8], 4)


def comparison(**ms):
    rows = {name: {"ms_ssim": v, "ms_ssim low": v - 0.01, "ms_ssim high": v + 0.01, "srgb_loss": 1 - v}
            for name, v in ms.items()}
    return pd.DataFrame(rows).T


def test_the_dominant_cause_is_the_change_that_gains_most():
    table = comparison(**{compared.PAPER: 0.80, "convolutional U-Net": 0.87, "SmallUViT, patch 8": 0.83,
                          "per-pixel MLP": 0.85})
    gain = diagnosis.gains(table)
    assert list(gain.index) == ["convolutional U-Net", "per-pixel MLP", "SmallUViT, patch 8"]
    assert gain.loc["convolutional U-Net", "ms_ssim gain"] == pytest.approx(0.07)
    target = images()
    grid, scales = diagnosis.patch_grid(target + 0.1, target, 16), diagnosis.ms_ssim_scales(target * 0.9, target)
    sentence = diagnosis.dominant_cause(grid, scales, gain)
    assert sentence.startswith("The dominant cause is the transformer itself")
    assert "+0.0700 MS-SSIM, 95 % interval +0.0600 to +0.0800" in sentence
    clusters = diagnosis.by_cluster(target + 0.1, target, np.zeros((2, 64, 64), int), 1)
    summary = diagnosis.summary(grid, scales, clusters, gain)
    assert summary["value"].iloc[-1] == pytest.approx(0.07)
    worse = diagnosis.gains(comparison(**{compared.PAPER: 0.9, "convolutional U-Net": 0.85}))
    assert diagnosis.dominant_cause(grid, scales, worse).startswith("No change tried measurably improves")
    inside = diagnosis.gains(comparison(**{compared.PAPER: 0.80, "convolutional U-Net": 0.805}))
    assert "the largest gain, convolutional U-Net" in diagnosis.dominant_cause(grid, scales, inside)


def test_what_a_change_points_at_follows_the_sign_of_its_gain_and_its_interval():
    """A loss is never read as a gain, and a difference inside the interval is read as none (issue 37)."""
    table = comparison(**{compared.PAPER: 0.73, "SmallUViT without SPT": 0.70, "SmallUViT without LSA": 0.76,
                          "SmallUViT without long skips": 0.725, "SmallUViT, warm-up + cosine decay": 0.69})
    table.loc[compared.PAPER, ["ms_ssim low", "ms_ssim high"]] = 0.71, 0.75
    said = diagnosis.gains(table)["points at"]
    assert said["SmallUViT without LSA"] == "Locality Self-Attention (the model without it does better)"
    assert said["SmallUViT without SPT"].startswith("not Shifted Patch Tokenization: it helps")
    assert "does worse" in said["SmallUViT, warm-up + cosine decay"]
    assert said["SmallUViT without long skips"].startswith("nothing measurable about the long skips")
    assert not any("does better" in s for name, s in said.items() if name != "SmallUViT without LSA")


def test_the_compared_models_are_one_list_that_the_budget_counts(tmp_path):
    paper = recolour.TrainParams(uvit_epochs=3).model_config(64)
    runs = evaluate.ablation_runs(paper, tmp_path)
    assert list(runs) == list(compared.COMPARED) and budget.compared_models() == len(runs)
    assert runs["SmallUViT, patch 8"][0].model.patch_size == 8
    assert runs["SmallUViT + per-pixel path"][0].model.pixel_path == "mlp"
    assert runs["SmallUViT, warm-up + cosine decay"][0].schedule == "cosine"
    assert runs["convolutional U-Net"][0].arch == "unet" and runs[compared.PAPER][0] == paper
    assert len({folder for _, folder in runs.values()}) == len(runs)
