"""The scaling law of the controlled study: 1 - MS-SSIM = a * N^-alpha + c per model, and its extrapolation.

N is the number of training images of a point. Every point of the study is scored on the same test images,
so the bootstrap resamples the test paintings once per draw, for all points together, recomputes each
point's mean MS-SSIM, and refits the curve: the interval of a parameter or of an extrapolated value is
the spread of those refits. It measures the test set's sampling noise, not the spread between training
seeds (one seed per point).
"""

from __future__ import annotations

import numpy as np

#: A three-parameter curve needs at least three training-set sizes; with fewer it is not extrapolated.
MIN_SIZES = 3
LEVEL = 0.95
#: The exponents tried: for each, a and c are a linear least-squares problem.
ALPHAS = np.linspace(0.0, 4.0, 801)


def power_law(n: np.ndarray, a: float, alpha: float, c: float) -> np.ndarray:
    """1 - MS-SSIM at N training images."""
    return a * np.asarray(n, float) ** -alpha + c


def fit_curves(n: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares (a, alpha, c) of `power_law` through each row of `errors` (curves x points), with
    a >= 0 and 0 <= c <= 1.

    For a given alpha the curve is linear in a and c, so alpha is searched on the grid `ALPHAS` (step 0.005)
    and a, c solved exactly for each: the unconstrained solution where it is admissible, else the best on
    the edges a = 0, c = 0 or c = 1. All bootstrap refits run at once, and none can fail to converge.
    N is scaled by its largest value while fitting; the returned a is for N in images.
    """
    n, e = np.asarray(n, float), np.atleast_2d(np.asarray(errors, float))[:, None, :]  # curves x 1 x points
    scale = n.max()
    x = (n / scale)[None, :] ** -ALPHAS[:, None]  # alphas x points
    xm, em = x.mean(1), e.mean(-1)
    sxx = ((x - xm[:, None]) ** 2).sum(1)
    slope = ((x - xm[:, None]) * (e - em[..., None])).sum(-1) / np.where(sxx > 0, sxx, np.inf)
    xx = (x ** 2).sum(1)
    candidates = [(slope, em - slope * xm),
                  (np.zeros_like(slope), np.clip(em, 0, 1) + 0 * slope),
                  (np.maximum((x * e).sum(-1) / xx, 0), np.zeros_like(slope)),
                  (np.maximum((x * (e - 1)).sum(-1) / xx, 0), np.ones_like(slope))]
    a = np.stack([c[0] for c in candidates])  # candidates x curves x alphas
    c = np.stack([c[1] for c in candidates])
    sse = ((a[..., None] * x + c[..., None] - e[None]) ** 2).sum(-1)
    sse[(a < 0) | (c < 0) | (c > 1)] = np.inf
    flat = sse.transpose(1, 0, 2).reshape(len(e), -1).argmin(1)
    which, grid = np.unravel_index(flat, sse.shape[::2])
    rows = np.arange(len(e))
    alpha = ALPHAS[grid]
    return a[which, rows, grid] * scale ** alpha, alpha, c[which, rows, grid]


def fit_curve(n: np.ndarray, error: np.ndarray) -> tuple[float, float, float]:
    """(a, alpha, c) of one curve (see `fit_curves`)."""
    a, alpha, c = (float(v[0]) for v in fit_curves(n, np.asarray(error, float)[None]))
    return a, alpha, c


def _means(per_image: np.ndarray, paintings: np.ndarray, draws: np.ndarray | None) -> np.ndarray:
    """Mean of each point's per-image values (points x images), over all paintings or over each draw's."""
    names, inverse = np.unique(paintings, return_inverse=True)
    sums = np.stack([np.bincount(inverse, row, minlength=len(names)) for row in per_image])  # points x paintings
    sizes = np.bincount(inverse, minlength=len(names))
    if draws is None:
        return sums.sum(1) / sizes.sum()
    return sums[:, draws].sum(-1) / sizes[draws].sum(-1)  # points x draws


def fit_model(train_images: list[int], per_image_ms_ssim: list[list[float]], paintings: list,
              targets: dict[str, int], resamples: int = 1000, seed: int = 0) -> dict:
    """The fitted curve of one model's finished points, its bootstrap intervals, and its values at `targets`.

    `per_image_ms_ssim[i]` holds point i's test MS-SSIM per image, in the order of `paintings` (the test
    images' paintings, the same for every point). With fewer than MIN_SIZES distinct sizes the answer is
    `{"fitted": False, "reason": ...}`: nothing is extrapolated.
    """
    n = np.asarray(train_images, float)
    sizes = len(set(train_images))
    if sizes < MIN_SIZES:
        return {"fitted": False, "sizes": sizes,
                "reason": f"only {sizes} training-set size{'s' if sizes != 1 else ''} finished; a * N^-alpha + c "
                          f"needs at least {MIN_SIZES}, so this model is not extrapolated"}
    values = np.asarray(per_image_ms_ssim, float)
    paintings = np.asarray(paintings)
    a, alpha, c = fit_curve(n, 1 - _means(values, paintings, None))
    names = np.unique(paintings)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    draws = rng.integers(0, len(names), (resamples, len(names)))
    refits = np.stack(fit_curves(n, (1 - _means(values, paintings, draws)).T), 1)
    tail = (1 - LEVEL) / 2 * 100

    def interval(samples: np.ndarray) -> list[float]:
        return [float(np.percentile(samples, tail)), float(np.percentile(samples, 100 - tail))]

    at = {}
    for name, images in targets.items():
        boot = 1 - power_law(images, *refits.T)
        at[name] = {"train_images": int(images), "ms_ssim": float(1 - power_law(images, a, alpha, c)),
                    "interval": interval(boot)}
    return {"fitted": True, "sizes": sizes, "a": a, "alpha": alpha, "c": c,
            "a_interval": interval(refits[:, 0]), "alpha_interval": interval(refits[:, 1]),
            "c_interval": interval(refits[:, 2]), "ms_ssim_limit": 1 - c,
            "ms_ssim_limit_interval": [1 - v for v in interval(refits[:, 2])[::-1]],
            "resamples": resamples, "at": at}
