"""Evaluation metrics: UIQI against the Wang-Bovik formula, and the metrics dict the results page uses."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from xrfnb import metrics


def uiqi_reference(x: np.ndarray, y: np.ndarray, sigma: float = 1.5, radius: int = 5) -> float:
    """Q = 4 s_xy m_x m_y / ((s_x^2 + s_y^2)(m_x^2 + m_y^2)) in Gaussian windows, averaged where the
    window lies inside the image (Wang & Bovik 2002, with the window torchmetrics uses)."""
    def local(a):
        return ndimage.gaussian_filter(a, sigma, truncate=radius / sigma, mode="reflect")

    qs = []
    for a, b in zip(x, y):
        mx, my = local(a), local(b)
        sx, sy = local(a * a) - mx**2, local(b * b) - my**2
        sxy = local(a * b) - mx * my
        q = 4 * sxy * mx * my / ((sx + sy) * (mx**2 + my**2))
        qs.append(q[radius:-radius, radius:-radius])
    return float(np.mean(qs))


def test_uiqi_matches_the_wang_bovik_formula():
    rng = np.random.default_rng(0)
    x = rng.random((3, 40, 36))
    y = np.clip(0.7 * x + 0.3 * rng.random((3, 40, 36)), 0, 1)
    got = metrics.uiqi(torch.tensor(x[None]), torch.tensor(y[None])).item()
    assert got == pytest.approx(uiqi_reference(x, y), abs=1e-5)


def test_uiqi_of_an_image_with_itself_is_one():
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    assert metrics.uiqi(x, x).item() == pytest.approx(1.0, abs=1e-6)


def test_evaluate_returns_every_metric():
    g = torch.Generator().manual_seed(0)
    t = torch.rand(3, 3, 64, 64, generator=g)
    p = (t + 0.05 * torch.randn(3, 3, 64, 64, generator=g)).clamp(0, 1)
    m = metrics.evaluate(p, t)
    assert set(m) == {"srgb_loss", "ms_ssim", "uiqi", "psnr", "delta_e2000"}
    assert 0 < m["srgb_loss"] < 0.3 and 0.5 < m["ms_ssim"] <= 1 and 20 < m["psnr"] < 40
    perfect = metrics.evaluate(t, t)
    assert perfect["ms_ssim"] == pytest.approx(1.0, abs=1e-4) and perfect["delta_e2000"] == pytest.approx(0, abs=1e-6)


def test_psnr_matches_its_definition():
    t = torch.zeros(1, 3, 8, 8)
    p = torch.full((1, 3, 8, 8), 0.1)
    assert metrics.psnr(p, t).item() == pytest.approx(20.0, abs=1e-4)  # 10 log10(1 / 0.01)


def test_empty_or_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="test split is empty"):
        metrics.evaluate(torch.zeros(0, 3, 64, 64), torch.zeros(0, 3, 64, 64))
    with pytest.raises(ValueError, match="expected two N x 3 x H x W"):
        metrics.evaluate(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 32, 32))
