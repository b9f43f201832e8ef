"""Synthetic MA-XRF datacubes from RGB images: the paper's generator (`ganx`), exact, seeded and fast.

Per image (the paper's generation section and `ganx` 0.0.2, whose weights and mixtures a test matches):

1. RGB K-means with K swept over {n_start - delta, ..., n_start + delta - 1}; the K with the best
   silhouette on a random 1,024-pixel sample wins; each cluster's colour is the mean of its pixels.
2. Each cluster colour is compared with every pigment by CIEDE2000: alpha = (101 - dE00) / 101. Pigments
   with alpha >= threshold are kept (else the single most similar one); the cluster's mixture is the
   alpha-weighted mean of their normalised spectra.
3. Every pixel's spectrum is Multinomial(counts, mixture of its cluster) over exactly E channels.

Step 3 is the expensive one (128 x 128 pixels x 400 counts = 6.5 M draws). Draws use alias tables and a
counter-based random stream (splitmix64 of the image key, pixel and draw index), so a cube is a pure
function of (seed, image index), is drawn on demand, and comes out identical from the compiled CPU
kernel (numba) and from the torch version that runs on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numba
import numpy as np
from scipy import ndimage
from skimage import color

from ..palette.pigments import Palette

if TYPE_CHECKING:  # the torch version runs on a GPU only: the CPU path never imports torch
    import torch

#: This project's similarity threshold: the thresholding then does what the paper says it is for ("to
#: reduce the number of pigments for each pixel"); chapter 3 measures the choice on every run's data.
THRESHOLD = 0.75
#: ganx 0.0.2's default, which keeps nearly every pigment in every cluster; one parameter away.
GANX_THRESHOLD = 0.2

GOLDEN = 0x9E3779B97F4A7C15
MAX_COUNTS = np.iinfo(np.int16).max  # counts are stored as int16
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


# ----------------------------------------------------------------------------- clustering


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 30) -> np.ndarray:
    """Lloyd's K-means with k-means++ seeding on points `x` (n, d); returns the centres (k, d)."""
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        pick = rng.choice(len(x), p=d2 / d2.sum()) if d2.sum() > 0 else rng.integers(len(x))
        centres.append(x[pick])
        d2 = np.minimum(d2, ((x - x[pick]) ** 2).sum(1))
    c = np.array(centres)
    for _ in range(iters):
        labels = _assign(x, c)
        counts = np.bincount(labels, minlength=k)
        new = np.stack([np.bincount(labels, x[:, j], minlength=k) for j in range(x.shape[1])], 1)
        new = np.where(counts[:, None] > 0, new / np.maximum(counts, 1)[:, None], c)
        if np.allclose(new, c, atol=1e-7):
            break
        c = new
    return c


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of `a` and of `b` (one matrix product)."""
    return np.maximum((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :], 0.0)


def _assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for every point."""
    return _sq_dist(x, centres).argmin(1)


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient (Rousseeuw 1987), as scikit-learn's `silhouette_score` on all of `x`.

    Written with two matrix products because the K sweep scores every candidate: for 1,024 points it
    is several times faster than scikit-learn's chunked version (tests check they agree).
    """
    labels = np.unique(labels, return_inverse=True)[1]  # no empty label in between
    k = labels.max() + 1
    d = np.sqrt(_sq_dist(x, x))
    onehot = np.eye(k)[labels]
    size = onehot.sum(0)
    sums = d @ onehot  # distance from each point to all points of each cluster
    own = size[labels]
    a = sums[np.arange(len(x)), labels] / np.maximum(own - 1, 1)
    other = np.where(onehot > 0, np.inf, sums / np.maximum(size, 1))
    b = other.min(1)
    s = np.where(own > 1, (b - a) / np.maximum(a, b), 0.0)
    return float(np.nan_to_num(s).mean())


@dataclass(frozen=True)
class Clustering:
    """An image's colour clusters: per-pixel labels, mean colours and the silhouette of each K tried."""

    labels: np.ndarray
    colours: np.ndarray
    scores: dict[int, float]


def cluster_colours(rgb: np.ndarray, rng: np.random.Generator, n_start: int = 10, delta: int = 1,
                    fit_sample: int = 2048, score_sample: int = 1024) -> Clustering:
    """Cluster an image's colours, choosing K in {n_start - delta, ..., n_start + delta - 1} by silhouette.

    K-means is fitted on `fit_sample` random pixels and scored on `score_sample` of them; only the winner
    assigns every pixel. Images with fewer distinct colours than K (a flat colour, a two-tone image) get
    as many clusters as they have colours.
    """
    x = rgb.reshape(-1, 3)
    fit = x[rng.choice(len(x), min(fit_sample, len(x)), replace=False)]
    score = fit[:score_sample]
    distinct = len(np.unique(fit, axis=0))
    ks = [k for k in range(n_start - delta, n_start + delta) if 2 <= k <= distinct]
    if not ks:
        ks = [max(1, min(distinct, n_start))]
    best, scores = None, {}
    for k in ks:
        centres = _kmeans(fit, k, rng)
        lab = _assign(score, centres)
        n_lab = len(np.unique(lab))
        scores[k] = silhouette(score, lab) if 2 <= n_lab < len(score) else -1.0
        if best is None or scores[k] > scores[best[0]]:
            best = (k, centres)
    labels = _assign(x, best[1])
    used, labels = np.unique(labels, return_inverse=True)  # drop empty clusters
    counts = np.bincount(labels)
    colours = np.stack([np.bincount(labels, x[:, j]) for j in range(3)], 1) / counts[:, None]
    return Clustering(labels.reshape(rgb.shape[:2]).astype(np.uint8), colours, scores)


# ----------------------------------------------------------------------------- pigment matching


def ciede2000_similarity(cluster_rgb: np.ndarray, pigment_rgb: np.ndarray) -> np.ndarray:
    """alpha = (101 - dE00) / 101 between colours (K, 3) in [0, 1] and pigments (P, 3) uint8; shape (K, P)."""
    lab_c = color.rgb2lab(np.asarray(cluster_rgb, dtype=float)[None])[0]
    lab_p = color.rgb2lab(np.asarray(pigment_rgb, dtype=float)[None] / 255.0)[0]
    return (101.0 - color.deltaE_ciede2000(lab_c[:, None, :], lab_p[None, :, :])) / 101.0


def passing(alpha: np.ndarray, threshold: float) -> np.ndarray:
    """Which pigments pass the threshold for each cluster (K, P); none pass a threshold outside (0, 1]."""
    return (alpha >= threshold) & (0 < threshold <= 1)


def fallbacks(alpha: np.ndarray, threshold: float) -> int:
    """Clusters that no pigment passes: they take the single most similar pigment (the documented fallback)."""
    return int((~passing(alpha, threshold).any(1)).sum())


def pigment_weights(alpha: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Keep alpha >= threshold; a colour with none keeps its single most similar pigment. Shape (K, P).

    A threshold outside (0, 1] passes no pigment, so every cluster takes the fallback.
    """
    w = np.where(passing(alpha, threshold), alpha, 0.0)
    none = ~(w > 0).any(1)
    best = alpha.argmax(1)
    w[none, best[none]] = alpha[none, best[none]]
    return w


def mixtures_of(weights: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    """alpha-weighted mean of the pigments' normalised spectra: (K, P) x (P, E) -> (K, E), rows sum to 1."""
    return weights @ spectra / weights.sum(1, keepdims=True)


# ----------------------------------------------------------------------------- exact sampling


@numba.njit(cache=True)
def _alias_tables(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias tables for each row of `p` (rows sum to 1): O(1) exact draws."""
    n_rows, e = p.shape
    prob = np.ones((n_rows, e))
    alias = np.zeros((n_rows, e), dtype=np.int64)
    small = np.empty(e, dtype=np.int64)
    large = np.empty(e, dtype=np.int64)
    for r in range(n_rows):
        q = p[r] * e
        alias[r] = np.arange(e)
        ns = nl = 0
        for i in range(e):
            if q[i] < 1.0:
                small[ns] = i
                ns += 1
            else:
                large[nl] = i
                nl += 1
        while ns > 0 and nl > 0:
            ns -= 1
            s = small[ns]
            lg = large[nl - 1]
            prob[r, s] = q[s]
            alias[r, s] = lg
            q[lg] = q[lg] + q[s] - 1.0
            if q[lg] < 1.0:
                nl -= 1
                small[ns] = lg
                ns += 1
    return prob, alias


def alias_tables(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alias tables (prob, alias) for the rows of `p`, each (rows, E)."""
    return _alias_tables(np.ascontiguousarray(p, dtype=np.float64))


@numba.njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    """splitmix64's finaliser: a bijective 64-bit hash."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _channel(z: np.uint64, k: int, prob: np.ndarray, alias: np.ndarray, scale: float) -> int:
    """One exact draw from row k's alias table, using the top 53 bits of `z`."""
    v = float(z >> np.uint64(11)) * scale
    col = int(v)
    return col if v - col < prob[k, col] else alias[k, col]


@numba.njit(cache=True)
def _draw_by_label_cpu(labels: np.ndarray, totals: np.ndarray, prob: np.ndarray, alias: np.ndarray,
                       key: np.uint64, out: np.ndarray) -> None:
    """out[i] += totals[i] draws from row labels[i] (the paper's case: one cluster per pixel)."""
    scale = float(prob.shape[1]) / 9007199254740992.0
    for i in range(totals.shape[0]):
        x = _mix(key ^ (np.uint64(i) * np.uint64(GOLDEN)))
        k = labels[i]
        row = out[i]
        for _ in range(totals[i]):
            x += np.uint64(GOLDEN)
            row[_channel(_mix(x), k, prob, alias, scale)] += 1


@numba.njit(cache=True)
def _draw_by_share_cpu(cdf: np.ndarray, totals: np.ndarray, prob: np.ndarray, alias: np.ndarray,
                       key: np.uint64, out: np.ndarray) -> None:
    """out[i] += totals[i] draws, each first picking a row from pixel i's cumulative shares `cdf[i]`."""
    scale = float(prob.shape[1]) / 9007199254740992.0
    unit = 1.0 / 9007199254740992.0
    last = cdf.shape[1] - 1
    for i in range(totals.shape[0]):
        x = _mix(key ^ (np.uint64(i) * np.uint64(GOLDEN)))
        row = out[i]
        for _ in range(totals[i]):
            x += np.uint64(GOLDEN)
            u = float(_mix(x) >> np.uint64(11)) * unit
            k = 0
            while k < last and u >= cdf[i, k]:
                k += 1
            x += np.uint64(GOLDEN)
            row[_channel(_mix(x), k, prob, alias, scale)] += 1


def _lsr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 (torch shifts are arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def _as_int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _mix_torch(z: torch.Tensor) -> torch.Tensor:
    z = (z ^ _lsr(z, 30)) * _as_int64(MIX1)
    z = (z ^ _lsr(z, 27)) * _as_int64(MIX2)
    return z ^ _lsr(z, 31)


def _draw_torch(labels: np.ndarray | None, cdf: np.ndarray | None, totals: np.ndarray, prob: np.ndarray,
                alias: np.ndarray, key: int, device: str) -> np.ndarray:
    """The same draws as the CPU kernels, vectorised over all draws with torch (for a GPU)."""
    import torch

    dev = torch.device(device)
    e = prob.shape[1]
    tot = torch.as_tensor(totals, device=dev)
    n_pix = len(totals)
    pixel = torch.repeat_interleave(torch.arange(n_pix, device=dev), tot)
    draw = torch.arange(len(pixel), device=dev) - (torch.cumsum(tot, 0) - tot)[pixel]  # index within pixel
    gold = _as_int64(GOLDEN)
    x = _mix_torch(torch.full((n_pix,), _as_int64(key), device=dev) ^ (torch.arange(n_pix, device=dev) * gold))
    x = x[pixel]
    if cdf is None:
        k = torch.as_tensor(labels, device=dev).long()[pixel]
        z = _mix_torch(x + (draw + 1) * gold)
    else:
        u = _lsr(_mix_torch(x + (2 * draw + 1) * gold), 11).double() / 2.0**53
        k = (u[:, None] >= torch.as_tensor(cdf, device=dev)[pixel, :-1]).sum(1)
        z = _mix_torch(x + (2 * draw + 2) * gold)
    v = _lsr(z, 11).double() * (e / 2.0**53)
    col = v.long()
    j = k * e + col
    prob_t, alias_t = torch.as_tensor(prob, device=dev).reshape(-1), torch.as_tensor(alias, device=dev).reshape(-1)
    channel = torch.where(v - col < prob_t[j], col, alias_t[j])
    counts = torch.bincount(pixel * e + channel, minlength=n_pix * e)
    return counts.reshape(n_pix, e).to(torch.int16).cpu().numpy()


def draw_counts(mixtures: np.ndarray, totals: np.ndarray, key: int, *, labels: np.ndarray | None = None,
                shares: np.ndarray | None = None, device: str = "cpu") -> np.ndarray:
    """Exact multinomial counts, (pixels, E) int16, from a counter-based random stream keyed by `key`.

    Parameters
    ----------
    mixtures : (R, E) distributions, rows summing to 1.
    totals : (pixels,) number of photons each pixel draws.
    labels : (pixels,) the row every draw of a pixel uses; or
    shares : (pixels, R) each pixel's mix of rows (a beam spanning clusters); one row per draw at random.
    device : 'cpu' runs the compiled kernel; 'cuda' (or any torch device) runs the torch version.
        Both give identical counts.
    """
    if (labels is None) == (shares is None):
        raise ValueError("draw_counts needs exactly one of labels or shares")
    if len(totals) and int(np.max(totals)) > MAX_COUNTS:
        raise ValueError(f"a pixel would hold {int(np.max(totals))} photons; int16 counts hold at most {MAX_COUNTS}")
    prob, alias = alias_tables(mixtures)
    totals = np.asarray(totals, dtype=np.int64)
    cdf = None
    if shares is not None:
        cdf = np.cumsum(shares, 1)
        cdf[:, -1] = 1.0
    if device != "cpu":
        return _draw_torch(labels, cdf, totals, prob, alias, key, device)
    out = np.zeros((len(totals), mixtures.shape[1]), dtype=np.int16)
    if cdf is None:
        _draw_by_label_cpu(np.asarray(labels, dtype=np.int64), totals, prob, alias, np.uint64(key), out)
    else:
        _draw_by_share_cpu(cdf, totals, prob, alias, np.uint64(key), out)
    return out


# ----------------------------------------------------------------------------- the generator


def seed_sequence(seed: int, image_index: int, stream: int) -> np.random.SeedSequence:
    """Independent random streams per (dataset seed, image index): 0 clustering, 1 counts, 2 totals."""
    return np.random.SeedSequence([seed, image_index, stream])


def to_unit_rgb(rgb: np.ndarray) -> np.ndarray:
    """An image as H x W x 3 float in [0, 1]: uint8/uint16 scaled, grey promoted, alpha dropped."""
    a = np.asarray(rgb)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 1:
        raise ValueError(f"expected an H x W x 3 (or 4) image, got shape {a.shape}")
    a = a[..., :3]
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("image has NaN or infinite values")
    return np.clip(a / 255.0 if a.max() > 1.0 else a, 0.0, 1.0)


@dataclass(frozen=True)
class Synthesis:
    """A synthetic MA-XRF datacube, stored compactly: the cube is drawn on demand from these fields.

    Attributes
    ----------
    labels : (H, W) cluster of each pixel.
    cluster_rgb : (K, 3) mean colour of each cluster, in [0, 1].
    weights : (K, P) alpha of the kept pigments, 0 elsewhere.
    mixtures : (K, E) each cluster's spectrum (rows sum to 1).
    seed, image_index : the random stream; counts, poisson, blur_sigma : how counts are drawn.
    """

    labels: np.ndarray
    cluster_rgb: np.ndarray
    weights: np.ndarray
    mixtures: np.ndarray
    seed: int
    image_index: int
    counts: int
    poisson: bool = False
    blur_sigma: float = 0.0
    silhouette: dict[int, float] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.labels.shape, self.mixtures.shape[1])

    def clustered_rgb(self) -> np.ndarray:
        """The image with every pixel replaced by its cluster's mean colour (H, W, 3) in [0, 1]."""
        return self.cluster_rgb[self.labels]

    def pixel_totals(self) -> np.ndarray:
        """Counts per pixel: `counts` everywhere, or Poisson(counts) when `poisson`."""
        n = self.labels.size
        if not self.poisson:
            return np.full(n, self.counts, dtype=np.int64)
        return np.random.default_rng(seed_sequence(self.seed, self.image_index, 2)).poisson(self.counts, n)

    def pixel_mixtures(self) -> np.ndarray:
        """Each pixel's expected spectrum (H, W, E): its cluster's mixture, blurred by the beam if asked."""
        return np.einsum("hwk,ke->hwe", self._cluster_weights().reshape(*self.labels.shape, -1), self.mixtures)

    def _cluster_weights(self) -> np.ndarray:
        """(pixels, K) share of each cluster seen by the beam at each pixel (one-hot without blur)."""
        k = len(self.cluster_rgb)
        onehot = np.eye(k)[self.labels.ravel()]
        if self.blur_sigma <= 0:
            return onehot
        maps = onehot.reshape(*self.labels.shape, k)
        blurred = np.stack([ndimage.gaussian_filter(maps[..., j], self.blur_sigma, mode="nearest")
                            for j in range(k)], -1).reshape(-1, k)
        return blurred / blurred.sum(1, keepdims=True)

    def cube(self, device: str = "cpu") -> np.ndarray:
        """The datacube (H, W, E) of int16 counts; the same seed always gives the same cube."""
        key = int(seed_sequence(self.seed, self.image_index, 1).generate_state(1, np.uint64)[0])
        if self.blur_sigma > 0:
            counts = draw_counts(self.mixtures, self.pixel_totals(), key, shares=self._cluster_weights(),
                                 device=device)
        else:
            counts = draw_counts(self.mixtures, self.pixel_totals(), key, labels=self.labels.ravel(),
                                 device=device)
        return counts.reshape(self.shape)


def physics_mixtures(weights: np.ndarray, palette: Palette) -> np.ndarray:
    """Mixture spectra computed through the physics model from each cluster's mixed composition.

    A realism option beyond the paper (which mixes spectra linearly): the kept pigments' compositions are
    mixed by their alpha weights and the spectrum of that paint is computed, so matrix effects (one
    pigment absorbing another's lines) appear. Uses the instrument and sample model the palette records.
    """
    from ..palette import physics, pigments

    if not all(palette.compositions):
        raise ValueError("physics mixing needs the pigments' compositions; this palette has none "
                         "(was it read from a ganx export?)")
    axis = physics.EnergyAxis.from_centres(palette.energy)
    plaster = pigments.palette_table()["plaster"]["composition"]  # the ground, read once for every cluster
    rows = []
    for w in weights:
        mixed: dict[str, float] = {}
        for wi, comp in zip(w / w.sum(), palette.compositions):
            for formula, f in comp.items():
                mixed[formula] = mixed.get(formula, 0.0) + wi * f
        rows.append(pigments.pigment_spectrum({k: v for k, v in mixed.items() if v > 0}, axis,
                                              palette.measured_with(), palette.sample_model(), "mixture", plaster))
    return np.array(rows)


def synthesize(rgb: np.ndarray, palette: Palette, *, seed: int, image_index: int = 0, counts: int = 400,
               threshold: float = THRESHOLD, n_start: int = 10, delta: int = 1, poisson: bool = False,
               counts_range: tuple[int, int] | None = None, blur_sigma: float = 0.0,
               mixing: str = "linear") -> Synthesis:
    """Turn an RGB image into a synthetic MA-XRF datacube (returned compactly; call `.cube()` for counts).

    Parameters
    ----------
    rgb : H x W x 3 image (uint8, uint16 or float in [0, 1]); grey is promoted, alpha dropped.
    palette : the pigments (reference colours and spectra).
    seed, image_index : every random draw comes from streams seeded by (seed, image_index).
    counts : photons per pixel (the paper: 400).
    threshold : minimum CIEDE2000 similarity alpha for a pigment to enter a cluster's mixture
        (`THRESHOLD`; ganx's own default is `GANX_THRESHOLD`, 0.2). Outside (0, 1] every cluster takes
        its single most similar pigment.
    n_start, delta : K is swept over {n_start - delta, ..., n_start + delta - 1} (defaults: 9 and 10).
    poisson : realism option, per-pixel counts ~ Poisson(counts) instead of fixed.
    counts_range : realism option, the image's counts drawn uniformly from [lo, hi] (overrides `counts`).
    blur_sigma : realism option, the beam's point-spread (Gaussian sigma in pixels) mixes neighbouring
        clusters into a pixel's spectrum.
    mixing : 'linear' (the paper) or 'physics' (mixture spectra from mixed compositions).
    """
    if mixing not in ("linear", "physics"):
        raise ValueError(f"mixing must be 'linear' or 'physics', got {mixing!r}")
    top = max(counts, counts_range[1] if counts_range else 0)
    if counts < 1 or top + (6 * np.sqrt(top) if poisson else 0) > MAX_COUNTS:
        raise ValueError(f"counts per pixel must be between 1 and about {MAX_COUNTS} (int16), got {top}")
    if delta < 1 or n_start - delta < 1:
        raise ValueError(f"need delta >= 1 and n_start - delta >= 1, got n_start={n_start}, delta={delta}")
    image = to_unit_rgb(rgb)
    rng = np.random.default_rng(seed_sequence(seed, image_index, 0))
    clusters = cluster_colours(image, rng, n_start, delta)
    if counts_range is not None:
        lo, hi = counts_range
        counts = int(rng.integers(lo, hi + 1))
    weights = pigment_weights(ciede2000_similarity(clusters.colours, palette.rgb), threshold)
    mixtures = mixtures_of(weights, palette.spectra) if mixing == "linear" else physics_mixtures(weights, palette)
    return Synthesis(labels=clusters.labels, cluster_rgb=clusters.colours, weights=weights, mixtures=mixtures,
                     seed=seed, image_index=image_index, counts=counts, poisson=poisson,
                     blur_sigma=blur_sigma, silhouette=clusters.scores)


#: Elements whose maps the paper's generation figure shows, with the line used for each.
MAP_LINES = {"Ca": "KL3", "Fe": "KL3", "Hg": "L3M5", "Co": "KL3", "Ti": "KL3", "Mn": "KL3", "K": "KL3", "As": "KL3"}


#: Lines labelled on sum spectra: (element, label, IUPAC line).
SPECTRUM_LABELS = [("Ca", "Ka", "KL3"), ("Ca", "Kb", "KM3"), ("Fe", "Ka", "KL3"), ("Fe", "Kb", "KM3"),
                   ("Hg", "La", "L3M5"), ("Hg", "Lb", "L2M4"), ("Co", "Ka", "KL3"), ("Ti", "Ka", "KL3"),
                   ("Mn", "Ka", "KL3"), ("K", "Ka", "KL3"), ("As", "Ka", "KL3"), ("Sr", "Ka", "KL3"),
                   ("Ar", "Ka", "KL3"), ("Mo", "Ka", "KL3")]


def element_maps(cube: np.ndarray, energy: np.ndarray, lines: dict[str, str] = MAP_LINES,
                 half_width_kev: float = 0.08) -> dict[str, np.ndarray]:
    """Counts in a window around each element's line: {element: (H, W) map}, as an XRF analyst draws them."""
    from ..palette.physics import line_energy

    maps = {}
    for symbol, line in lines.items():
        e = line_energy(symbol, line)
        window = np.abs(energy - e) <= half_width_kev
        maps[f"{symbol} {line}"] = cube[..., window].sum(-1)
    return maps
