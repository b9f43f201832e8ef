"""Per-pixel colour decoders for the information budget: an MLP from one pixel's input (its true mixture
weights, its spectrum or its latent) to its colour, trained on a seeded subsample of training pixels.

The recipe (AdamW, linear warm-up and cosine decay, batches of thousands of pixels, the paper's redmean
loss) spends many optimiser steps on few parameters: what one pixel's input allows, measured rather than
assumed. Inputs are standardised by their training mean and spread; spectra first go through the DVE's
own input map (`dve.normalise`), so that every decoder sees what the DVE sees. The training itself is the
pooled decoder's (`xrfnb.models.pixel_training`), with passes over the subsample in a seeded order.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from ..embedding import dve
from ..models import pixel_training


@dataclasses.dataclass(frozen=True)
class PixelRecipe:
    """How a per-pixel decoder trains: width of its three hidden layers, passes over its pixels, pixels
    per batch, AdamW's peak learning rate and weight decay, and the warm-up's share of the steps."""

    hidden: int = 128
    epochs: int = 3
    batch: int = 4096
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05

    def __post_init__(self) -> None:
        if min(self.hidden, self.epochs, self.batch) < 1 or self.lr <= 0:
            raise ValueError(f"a pixel recipe needs positive width, epochs, batch and rate, got {self}")


class PixelDecoder(nn.Module):
    """Colour in [0, 1] from one pixel's input (n, d): standardised, then an MLP with a sigmoid output."""

    def __init__(self, n_in: int, hidden: int, mean: torch.Tensor, std: torch.Tensor, hellinger: bool = False):
        super().__init__()
        self.hellinger = hellinger
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp_min(1e-6))
        self.net = nn.Sequential(*pixel_training.mlp_layers(n_in, hidden, 3, nn.Linear), nn.Sigmoid())

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The input as the network sees it (Hellinger map for spectra), before standardising."""
        return dve.normalise(x) if self.hellinger else x.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((self.prepare(x) - self.mean) / self.std)


def _moments(x: np.ndarray, hellinger: bool, block: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and standard deviation of the prepared inputs, block by block (spectra are large)."""
    total, total_sq, n = 0.0, 0.0, 0
    for start in range(0, len(x), block):
        chunk = torch.as_tensor(x[start:start + block])
        chunk = (dve.normalise(chunk) if hellinger else chunk.float()).double()
        total, total_sq, n = total + chunk.sum(0), total_sq + (chunk ** 2).sum(0), n + len(chunk)
    mean = total / n
    return mean, (total_sq / n - mean ** 2).clamp_min(0).sqrt()


def fit(x: np.ndarray, y: np.ndarray, recipe: PixelRecipe, seed: int, hellinger: bool = False) -> PixelDecoder:
    """A decoder trained on inputs `x` (n, d) and colours `y` (n, 3, floats in [0, 1]) by `recipe`.

    Initialisation and batch order come from `seed`; the global random state is left as it was.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"a pixel decoder needs as many colours as inputs (and some), got {len(x)} and {len(y)}")
    mean, std = _moments(x, hellinger)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = PixelDecoder(x.shape[1], recipe.hidden, mean, std, hellinger)
        passes = pixel_training.Passes(len(x), recipe.batch, recipe.epochs, torch.Generator().manual_seed(seed))
        pixels = pixel_training.Pixels(torch.as_tensor(x), torch.as_tensor(y, dtype=torch.float32))
        pixel_training.fit(model, pixels, passes, recipe.lr, recipe.weight_decay,
                           pixel_training.warmup_cosine(len(passes), recipe.warmup))
    return model.eval()


@torch.no_grad()
def predict(model: PixelDecoder, x: np.ndarray, batch: int = 65536) -> np.ndarray:
    """Colours (n, 3) of inputs (n, d), in batches."""
    xs = torch.as_tensor(x)
    return torch.cat([model(chunk) for chunk in xs.split(batch)]).numpy()


def predict_image(model: PixelDecoder, image: np.ndarray) -> np.ndarray:
    """An image's colours (3, H, W) from its per-pixel inputs (H, W, d)."""
    h, w, d = image.shape
    return predict(model, image.reshape(h * w, d)).T.reshape(3, h, w)
