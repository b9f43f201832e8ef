"""Image metrics: the paper's sRGB ("redmean") loss, MS-SSIM with as many scales as an image allows, UIQI.

MS-SSIM comes from torchmetrics, the implementation the paper names. UIQI is Wang & Bovik's own
definition (an 8 x 8 uniform sliding window, Q averaged over windows); torchmetrics' variant with an
11 x 11 Gaussian window gives other values and is kept only as `uiqi_gaussian`.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as _ms_ssim

#: torchmetrics' (and Wang et al.'s) default weights of the five MS-SSIM scales.
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def srgb_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The CompuPhase "redmean" colour distance, averaged over pixels (the paper's loss).

    On N x 3 x H x W tensors in [0, 1], with r = (r1 + r2) / 2:
    dC = sqrt((2 + r) dR^2 + 4 dG^2 + (3 - r) dB^2), between 0 and 3 (black against white).
    `eps` inside the root keeps the gradient finite where the colours agree; the mean red is clamped
    to [0, 1] so that out-of-range predictions never turn a weight negative.
    """
    return srgb_distance(pred, target, eps).mean()


def srgb_distance(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The redmean distance of every pixel (N x H x W) of two N x 3 x H x W tensors: `srgb_loss` unaveraged."""
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
        raise ValueError(f"srgb_loss expects two N x 3 x H x W tensors, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    r_mean = ((pred[:, 0] + target[:, 0]) / 2).clamp(0, 1)
    d = pred - target
    dist2 = (2 + r_mean) * d[:, 0] ** 2 + 4 * d[:, 1] ** 2 + (3 - r_mean) * d[:, 2] ** 2
    return torch.sqrt(dist2 + eps)


def ms_ssim_scales(size: int, kernel_size: int = 11) -> int:
    """How many MS-SSIM scales an image of side `size` allows, by torchmetrics' own rule
    size // max(1, s - 1)^2 > kernel_size - 1 (five scales from 176 px, three at 64 px)."""
    allowed = [s for s in range(1, len(MS_SSIM_BETAS) + 1) if size // max(1, s - 1) ** 2 > kernel_size - 1]
    if not allowed:
        raise ValueError(f"MS-SSIM needs images larger than {kernel_size - 1} px, got {size}")
    return max(allowed)


def smallest_side(scales: int | None = None, kernel_size: int = 11) -> int:
    """The smallest image side that MS-SSIM scores at `scales` scales (default: all of torchmetrics')."""
    return kernel_size * max(1, (scales or len(MS_SSIM_BETAS)) - 1) ** 2


def ms_ssim_betas(size: int, scales: int | None = None) -> tuple[float, ...]:
    """The first scales' weights (as many as `size` allows, or `scales` if fewer), renormalised to sum to 1
    (all five, unchanged, from 176 px on)."""
    allowed = ms_ssim_scales(size)
    if scales is not None and not 1 <= scales <= allowed:
        raise ValueError(f"MS-SSIM on {size} px images allows 1 to {allowed} scales, not {scales}")
    betas = MS_SSIM_BETAS[:scales or allowed]
    if len(betas) == len(MS_SSIM_BETAS):  # torchmetrics' own (they sum to 1.0001): the paper's scoring exactly
        return betas
    return tuple(b / sum(betas) for b in betas)


def ms_ssim(pred: torch.Tensor, target: torch.Tensor, reduction: str = "elementwise_mean",
            scales: int | None = None) -> torch.Tensor:
    """MS-SSIM on [0, 1] images (N x 3 x H x W), with as many scales as the image size allows (or `scales`)."""
    betas = ms_ssim_betas(min(pred.shape[-2:]), scales)
    return _ms_ssim(pred.float().clamp(0, 1), target.float(), data_range=1.0, betas=betas, reduction=reduction)


def uiqi(pred: torch.Tensor, target: torch.Tensor, window: int = 8) -> torch.Tensor:
    """Universal Image Quality Index (Wang & Bovik 2002), one value per image (N x C x H x W in [0, 1]).

    In every `window` x `window` block of a sliding window (step 1),
    Q = 4 cov(x, y) mean(x) mean(y) / ((var(x) + var(y)) (mean(x)^2 + mean(y)^2)); Q is averaged over
    all windows and channels. A window where both images are flat and equal counts as Q = 1, where the
    denominator alone vanishes as Q = 0 (the paper leaves these cases open).
    """
    _check_pair(pred, target)
    x, y = pred.double().clamp(0, 1), target.double()
    n = window * window

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(t, window, stride=1)

    mx, my = local_mean(x), local_mean(y)
    vx = (local_mean(x * x) - mx * mx) * n / (n - 1)  # unbiased, as in the paper's formula
    vy = (local_mean(y * y) - my * my) * n / (n - 1)
    cov = (local_mean(x * y) - mx * my) * n / (n - 1)
    num, den = 4 * cov * mx * my, (vx + vy) * (mx * mx + my * my)
    tiny = 1e-12
    q = torch.where(den > tiny, num / den.clamp_min(tiny), torch.where((num.abs() <= tiny) & (
        (mx - my).abs() <= tiny) & (vx + vy <= tiny), 1.0, 0.0))
    return q.flatten(1).mean(1).float()


def uiqi_gaussian(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """torchmetrics' UIQI variant (11 x 11 Gaussian window), one value per image; not Wang & Bovik's."""
    from torchmetrics.functional.image import universal_image_quality_index

    return universal_image_quality_index(pred.float().clamp(0, 1), target.float(), reduction="none").flatten(1).mean(1)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio (dB) per image, for images in [0, 1]."""
    mse = (pred.float().clamp(0, 1) - target.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def delta_e2000(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 colour difference per image (sRGB D65 to CIELAB through scikit-image)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    p = pred.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    t = target.float().permute(0, 2, 3, 1).cpu().numpy()
    return torch.tensor([deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean() for a, b in zip(p, t)])


def per_image(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric for every image (N x 3 x H x W in [0, 1]): a dict of length-N tensors."""
    _check_pair(pred, target)
    pred = pred.float().clamp(0, 1)
    return {
        "srgb_loss": torch.stack([srgb_loss(p[None], t[None]) for p, t in zip(pred, target)]),
        "ms_ssim": ms_ssim(pred, target, reduction="none"),
        "uiqi": uiqi(pred, target),
        "psnr": psnr(pred, target),
        "delta_e2000": delta_e2000(pred, target),
    }


def evaluate(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """The test-set metrics of the paper and of this reproduction, as plain floats.

    srgb_loss and ms_ssim are the paper's; uiqi the index its figures show; psnr and the mean CIEDE2000
    colour difference are added for colour scientists. Each is averaged over images.
    """
    return {name: float(values.mean()) for name, values in per_image(pred, target).items()}


def bootstrap_interval(values: np.ndarray, groups: np.ndarray, n_resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean of `values`, resampling whole `groups` (e.g. paintings).

    Crops of one painting are not independent, so the paintings are drawn with replacement and every
    crop of a drawn painting comes along.
    """
    values, groups = np.asarray(values, float), np.asarray(groups)
    names, inverse = np.unique(groups, return_inverse=True)
    sums, sizes = np.bincount(inverse, values), np.bincount(inverse)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), (n_resamples, len(names)))
    means = sums[draws].sum(1) / sizes[draws].sum(1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
        raise ValueError(f"expected two N x 3 x H x W image batches, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    if len(pred) == 0:
        raise ValueError("no images to evaluate (the test split is empty)")
