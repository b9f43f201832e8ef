"""Evaluation metrics: UIQI against the Wang-Bovik formula, and the metrics dict the results page uses."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from xrfnb import metrics


def uiqi_wang_bovik(x: np.ndarray, y: np.ndarray, window: int = 8) -> float:
    """Wang & Bovik (2002), written out window by window: every 8 x 8 block of a sliding window (step 1),
    Q = 4 s_xy m_x m_y / ((s_x^2 + s_y^2)(m_x^2 + m_y^2)) with unbiased (co)variances, averaged."""
    qs = []
    for a, b in zip(x, y):
        for i in range(a.shape[0] - window + 1):
            for j in range(a.shape[1] - window + 1):
                u, v = a[i:i + window, j:j + window].ravel(), b[i:i + window, j:j + window].ravel()
                sxy = np.cov(u, v)[0, 1]
                qs.append(4 * sxy * u.mean() * v.mean() / ((u.var(ddof=1) + v.var(ddof=1)) * (u.mean() ** 2 + v.mean() ** 2)))
    return float(np.mean(qs))


def uiqi_gaussian_reference(x: np.ndarray, y: np.ndarray, sigma: float = 1.5, radius: int = 5) -> float:
    """The same Q in torchmetrics' 11 x 11 Gaussian windows, averaged where the window lies inside the image."""
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


def test_uiqi_matches_the_wang_bovik_definition_window_by_window():
    rng = np.random.default_rng(0)
    x = rng.random((3, 20, 18))
    y = np.clip(0.7 * x + 0.3 * rng.random((3, 20, 18)), 0, 1)
    got = metrics.uiqi(torch.tensor(x[None]), torch.tensor(y[None])).item()
    assert got == pytest.approx(uiqi_wang_bovik(x, y), abs=1e-5)


def test_the_gaussian_variant_is_torchmetrics_and_differs_from_wang_bovik():
    rng = np.random.default_rng(1)
    x = rng.random((3, 40, 36))
    y = np.clip(0.5 * x + 0.5 * rng.random((3, 40, 36)), 0, 1)
    gaussian = metrics.uiqi_gaussian(torch.tensor(x[None]), torch.tensor(y[None])).item()
    assert gaussian == pytest.approx(uiqi_gaussian_reference(x, y), abs=1e-5)
    assert abs(gaussian - metrics.uiqi(torch.tensor(x[None]), torch.tensor(y[None])).item()) > 1e-3


def test_bootstrap_resamples_whole_paintings():
    values = np.array([0.1, 0.1, 0.1, 0.9, 0.9, 0.5])
    paintings = np.array([0, 0, 0, 1, 1, 2])
    lo, hi = metrics.bootstrap_interval(values, paintings, n_resamples=4000)
    assert 0.1 <= lo < values.mean() < hi <= 0.9
    assert metrics.bootstrap_interval(np.full(6, 0.4), paintings) == pytest.approx((0.4, 0.4))
    one_painting = metrics.bootstrap_interval(values[:3], paintings[:3])
    assert one_painting == pytest.approx((0.1, 0.1))


def test_uiqi_of_an_image_with_itself_is_one():
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    np.testing.assert_allclose(metrics.uiqi(x, x).numpy(), 1.0, atol=1e-6)


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
