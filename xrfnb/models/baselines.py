"""Models to compare SmallUViT with: a non-learned colour lookup, a per-pixel MLP and a small U-Net.

The paper reports that it chose its architecture by trial and error; these baselines, trained on the same
data with the same budget, show what the transformer's spatial context and design buy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class ClusterColour:
    """Non-learned baseline: each pixel's latent cluster (the DVE's centroids) gets the mean training colour."""

    def __init__(self, centroids: np.ndarray):
        self.centroids = np.asarray(centroids, dtype=np.float32)
        self.colours = np.zeros((len(self.centroids), 3), dtype=np.float32)

    def assign(self, embedded: np.ndarray) -> np.ndarray:
        """Nearest centroid of every pixel of (n, d, H, W) embedded images: (n, H, W)."""
        z = np.moveaxis(embedded.astype(np.float32), 1, -1)
        d = ((z[..., None, :] - self.centroids) ** 2).sum(-1)
        return d.argmin(-1)

    def fit(self, blocks) -> "ClusterColour":
        """Mean RGB (in [0, 1]) of the training pixels of each cluster, accumulated over an iterable of
        (embedded (n, d, H, W), rgb (n, H, W, 3) uint8) blocks; unused clusters get the global mean."""
        k = len(self.centroids)
        n, sums = np.zeros(k), np.zeros((k, 3))
        for embedded, rgb in blocks:
            labels = self.assign(embedded).ravel()
            pixels = rgb.reshape(-1, 3).astype(np.float64) / 255.0
            n += np.bincount(labels, minlength=k)
            sums += np.stack([np.bincount(labels, pixels[:, c], minlength=k) for c in range(3)], 1)
        overall = sums.sum(0) / max(n.sum(), 1)
        self.colours = np.where(n[:, None] > 0, sums / np.maximum(n, 1)[:, None], overall).astype(np.float32)
        return self

    def predict(self, embedded: np.ndarray) -> np.ndarray:
        """RGB predictions (n, 3, H, W) in [0, 1]."""
        return np.moveaxis(self.colours[self.assign(embedded)], -1, 1).astype(np.float32)


class PixelMLP(nn.Sequential):
    """Per-pixel MLP (1 x 1 convolutions): colour from one pixel's embedding, no spatial context."""

    def __init__(self, in_channels: int = 3, hidden: int = 128, out_channels: int = 3):
        super().__init__(nn.Conv2d(in_channels, hidden, 1), nn.GELU(), nn.Conv2d(hidden, hidden, 1), nn.GELU(),
                         nn.Conv2d(hidden, hidden, 1), nn.GELU(), nn.Conv2d(hidden, out_channels, 1))


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    """A 4-level convolutional U-Net; width 43 gives about SmallUViT's 3.5 M parameters."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 43):
        super().__init__()
        w = [width, 2 * width, 4 * width, 8 * width]
        self.down = nn.ModuleList([_double_conv(in_channels, w[0]), _double_conv(w[0], w[1]),
                                   _double_conv(w[1], w[2])])
        self.bottom = _double_conv(w[2], w[3])
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in (2, 1, 0)])
        self.merge = nn.ModuleList([_double_conv(2 * w[i], w[i]) for i in (2, 1, 0)])
        self.out = nn.Conv2d(w[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"SmallUNet needs image sides divisible by 8, got {tuple(x.shape[-2:])}")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.out(x)
