"""Edge-preserving pooling before a per-pixel decoder: the photons of a region, without blurring its edges.

Beyond the paper. At 400 counts a pixel, photon noise limits what any decoder of one pixel's spectrum can
recover; the synthetic cubes are piecewise constant in mixture, so a region holds far more photons than a
pixel. Total-variation denoising (Rudin, Osher and Fatemi, 1992; Chambolle's projection algorithm, 2004)
is the classical estimator of a piecewise-constant image: it averages within regions and keeps their
edges. Here it pools the embedded image at a few strengths, and a per-pixel MLP decodes each pixel from
its raw latent and its pooled ones. The pooling is computed in torch, so the whole model is one
`nn.Module` that `recolour.predict` and the measured-scan path call like SmallUViT; `tests/test_pooled.py`
checks it against scikit-image's `denoise_tv_chambolle`. The MLP trains on pixels drawn with replacement
from the pooled training images, by the per-pixel trainer it shares with the information budget's
decoders (`xrfnb.models.pixel_training`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn

from ..io import atomic_path
from . import pixel_training


def tv_denoise(x: torch.Tensor, weight: float, iterations: int = 50) -> torch.Tensor:
    """Chambolle's total-variation denoising of each channel of images (n, c, H, W), `iterations` steps of
    the dual projection (scikit-image's `denoise_tv_chambolle` with `eps=0`, `channel_axis`)."""
    if weight <= 0:
        return x
    tau = 0.25  # 1 / (2 * ndim), the algorithm's step for 2-D images
    p = torch.zeros((2,) + x.shape, dtype=x.dtype, device=x.device)
    out = x
    for step in range(iterations):
        if step:
            d = -p.sum(0)
            d[..., 1:, :] += p[0, ..., :-1, :]
            d[..., :, 1:] += p[1, ..., :, :-1]
            out = x + d
        g = torch.zeros_like(p)
        g[0, ..., :-1, :] = out[..., 1:, :] - out[..., :-1, :]
        g[1, ..., :, :-1] = out[..., :, 1:] - out[..., :, :-1]
        norm = 1 + (tau / weight) * g.pow(2).sum(0, keepdim=True).sqrt()
        p = (p - tau * g) / norm
    return out


def cluster_means(x: torch.Tensor, guide: torch.Tensor, k: int, iterations: int = 10, sample: int = 1024,
                  seed: int = 0) -> torch.Tensor:
    """Each pixel of images (n, c, H, W) replaced by the mean of `x` over its cluster: k-means (k-means++
    start on `sample` pixels, seeded) on the `guide` image, per image. A painting's pixels of one mixture
    are spread over the image; this pools all of them, where a neighbourhood pools a few."""
    out = torch.empty_like(x)
    gen = torch.Generator().manual_seed(seed)
    for i in range(len(x)):
        g = guide[i].flatten(1).T  # (pixels, c)
        pick = g[torch.randperm(len(g), generator=gen)[:sample]]
        centres = pick[torch.randint(len(pick), (1,), generator=gen)]
        while len(centres) < min(k, len(pick)):  # k-means++: far points more likely
            d = torch.cdist(pick, centres).min(1).values.pow(2)
            centres = torch.cat([centres, pick[torch.multinomial(d + 1e-12, 1, generator=gen)]])
        for _ in range(iterations):
            labels = torch.cdist(g, centres).argmin(1)
            sums = torch.zeros_like(centres).index_add_(0, labels, g)
            counts = torch.bincount(labels, minlength=len(centres)).clamp(min=1)[:, None]
            centres = torch.where(counts > 0, sums / counts, centres)
        labels = torch.cdist(g, centres).argmin(1)
        v = x[i].flatten(1).T
        means = torch.zeros(len(centres), v.shape[1], dtype=v.dtype).index_add_(0, labels, v)
        means /= torch.bincount(labels, minlength=len(centres)).clamp(min=1)[:, None]
        out[i] = means[labels].T.reshape(x[i].shape)
    return out


class TVPool(nn.Module):
    """The raw image beside its total-variation pooled copies at `weights` and, with `clusters`, the mean
    of its cluster (k-means on the first pooled copy): (n, c, H, W) -> (n, c·(1 + k + 1), H, W)."""

    def __init__(self, weights: tuple[float, ...], iterations: int = 50, clusters: int = 0):
        super().__init__()
        self.weights, self.iterations, self.clusters = tuple(weights), iterations, clusters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = [tv_denoise(x, w, self.iterations) for w in self.weights]
        if self.clusters:
            pooled.append(cluster_means(x, pooled[0] if pooled else x, self.clusters))
        return torch.cat([x] + pooled, dim=1)


def _pointwise(n_in: int, n_out: int) -> nn.Conv2d:
    """A 1 x 1 convolution: the same linear map at every pixel of an image."""
    return nn.Conv2d(n_in, n_out, 1)


class PixelDecoder(nn.Sequential):
    """An MLP applied to each pixel (1 x 1 convolutions)."""

    def __init__(self, in_channels: int, hidden: int = 128, out_channels: int = 3):
        super().__init__(*pixel_training.mlp_layers(in_channels, hidden, out_channels, _pointwise))


@dataclass(frozen=True)
class PooledConfig:
    """The pooled decoder and its recipe: many optimiser steps on single pixels (a batch of 4,096 pixels
    costs what one 128 px image costs SmallUViT), AdamW with a one-cycle warm-up and cosine decay."""

    in_channels: int = 3
    weights: tuple[float, ...] = (0.1, 0.3)  # TV strengths, in units of the standardised latent
    iterations: int = 50  # Chambolle steps per pooling
    clusters: int = 0  # k of the per-image k-means whose cluster means join the input (0: none)
    hidden: int = 128
    steps: int = 3000  # optimiser steps
    batch_pixels: int = 4096
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "PooledConfig":
        return cls(**{**d, "weights": tuple(d.get("weights", cls.weights))})


class PooledRecolouring(nn.Module):
    """Standardise the embedded image, pool it, decode each pixel: RGB in [0, 1] (the paper's loss)."""

    def __init__(self, cfg: PooledConfig, in_mean: torch.Tensor | None = None, in_std: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        c = cfg.in_channels
        self.pool = TVPool(cfg.weights, cfg.iterations, cfg.clusters)
        self.model = PixelDecoder(c * (1 + len(cfg.weights) + bool(cfg.clusters)), cfg.hidden)
        self.register_buffer("in_mean", torch.zeros(c) if in_mean is None else in_mean.float())
        self.register_buffer("in_std", torch.ones(c) if in_std is None else in_std.float())

    def features(self, embedded: torch.Tensor) -> torch.Tensor:
        """The decoder's input: the standardised latent and its pooled copies."""
        return self.pool((embedded.float() - self.in_mean[:, None, None]) / self.in_std[:, None, None])

    def forward(self, embedded: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(self.features(embedded)))


def pixels_of(images: torch.Tensor) -> torch.Tensor:
    """Every pixel of images (n, c, H, W) as a 1 x 1 image (n·H·W, c, 1, 1), which the 1 x 1 convolutions take."""
    return images.permute(0, 2, 3, 1).reshape(-1, images.shape[1])[..., None, None]


def pooled_features(module: PooledRecolouring, embedded: np.ndarray, batch: int = 64) -> torch.Tensor:
    """The decoder's input for embedded images (n, c, H, W), pooled once before training."""
    x = torch.as_tensor(np.asarray(embedded, dtype=np.float32))
    with torch.no_grad():
        return torch.cat([module.features(b) for b in x.split(batch)])


def _key(cfg: PooledConfig, data: str) -> str:
    return hashlib.sha256(json.dumps({"cfg": asdict(cfg), "data": data}, sort_keys=True).encode()).hexdigest()[:16]


def train(train_x: np.ndarray, train_rgb: np.ndarray, cfg: PooledConfig, out_dir: Path, data_key: str = ""
          ) -> PooledRecolouring:
    """Train the pooled decoder on embedded images (n, c, H, W) and uint8 RGB targets (n, H, W, 3); a
    finished training with the same configuration and data (`data_key`) in `out_dir` is reused. Images of
    other channels than `cfg.in_channels` are refused in one line."""
    if np.shape(train_x)[1] != cfg.in_channels:
        raise ValueError(f"the pooled decoder takes {cfg.in_channels} input channels, the embedded images have "
                         f"{np.shape(train_x)[1]}")
    out_dir = Path(out_dir)
    key = _key(cfg, data_key)
    done = out_dir / "pooled.pt"
    if done.exists():
        saved = torch.load(done, map_location="cpu", weights_only=True)
        if saved.get("key") == key:
            return load(done)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    x = torch.as_tensor(np.asarray(train_x, dtype=np.float32))
    module = PooledRecolouring(cfg, x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)))
    targets = torch.from_numpy(np.asarray(train_rgb)).permute(0, 3, 1, 2).float() / 255.0
    pixels = pixel_training.Pixels(pixels_of(pooled_features(module, x)), pixels_of(targets))
    batches = pixel_training.drawn(len(pixels), cfg.batch_pixels, cfg.steps, torch.Generator().manual_seed(cfg.seed))
    pixel_training.fit(nn.Sequential(module.model, nn.Sigmoid()), pixels, batches, cfg.lr, cfg.weight_decay,
                       pixel_training.one_cycle(cfg.lr, cfg.steps))
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(done) as tmp:
        torch.save({"key": key, "config": asdict(module.cfg), "state": module.state_dict()}, tmp)
    return module.eval()


def load(path: Path) -> PooledRecolouring:
    """A trained pooled decoder from `train`'s file."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    module = PooledRecolouring(PooledConfig.from_dict(saved["config"]))
    module.load_state_dict(saved["state"])
    return module.eval()
