"""Unsupervised domain adaptation of the DVE's encoder: target spectra embedded where training spectra lie.

The paper leaves the step from synthetic to measured scans to a domain adaptation without labels, added to
one of its two networks. Here it is the DVE's encoder, fine-tuned on unlabelled target spectra so that their
latents are distributed as the training latents are; the decoder and the recolouring model stay as
trained, so what the recolouring model learnt from the training latents still applies. A run that embeds
with a PCA (`embedding: pca`) has its projection fine-tuned the same way (`pca.PCAEncoder.encoder`): the
adapted encoder is then a linear map, no longer a PCA. Two losses pull
the target latents onto the training ones (chapter 8 measures which works better):

* `mmd`: the squared Maximum Mean Discrepancy between target latents and the original encoder's training
  latents, with Gaussian kernels at several bandwidths (as Lalor et al. 2026 align gamma spectra);
* `adversarial`: a small domain classifier on the latents behind a gradient reversal layer (DANN, Ganin et
  al. 2016): the classifier learns to tell target from training latents, the encoder learns to prevent it.

Both keep an anchor: the adapted encoder must embed training spectra where the original did (mean squared
latent distance), so the adaptation cannot move the training domain to meet the target.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .dve import Embedding, check_spectra

#: The losses `adapt` knows.
METHODS = ("mmd", "adversarial")
#: Kernel bandwidths of the latent MMD, in units of the training latents' standard deviation [choice]; each
#: half the next (`kernel_mmd` computes them as powers of the widest).
BANDWIDTHS = (0.5, 1.0, 2.0)


class AdaptError(ValueError):
    """A target the encoder cannot be adapted to (one line that says why)."""


@dataclass(frozen=True)
class AdaptConfig:
    """The adaptation's loss and recipe [choices]: Adam on the encoder only, batches of target and training
    spectra of `batch` each, `steps` steps, the anchor's weight, and how many target pixels it needs."""

    method: str = "mmd"
    steps: int = 200
    batch: int = 256
    lr: float = 3e-4
    anchor: float = 1.0
    seed: int = 0
    min_pixels: int = 64
    measure: int = 1024  # latents per side on which the MMD before and after is measured

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown adaptation method {self.method!r} (known: {', '.join(METHODS)})")
        if self.steps < 1 or self.batch < 2 or self.lr <= 0 or self.anchor < 0:
            raise ValueError(f"adaptation needs steps >= 1, batch >= 2, lr > 0 and anchor >= 0, got {self.steps}, "
                             f"{self.batch}, {self.lr} and {self.anchor}")


@dataclass(frozen=True)
class Adapted:
    """An adapted DVE and what the adaptation measured: the latent MMD between target and training latents
    before and after (same kernels, same held-out spectra), how far training latents moved (`drift`, the
    mean squared distance), the target pixels used and the seconds it took."""

    model: Embedding
    config: AdaptConfig
    mmd_before: float
    mmd_after: float
    drift: float
    pixels: int
    seconds: float

    def report(self) -> dict:
        return {"method": self.config.method, "config": asdict(self.config), "latent_mmd_before": self.mmd_before,
                "latent_mmd_after": self.mmd_after, "training_drift": self.drift, "target_pixels": self.pixels,
                "seconds": self.seconds}


def kernel_mmd(a: torch.Tensor, b: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Squared MMD between point sets a (n, d) and b (m, d), unbiased (no point compared with itself), with
    Gaussian kernels of bandwidths `BANDWIDTHS` (each half the next) times `scale`, summed: near 0 for two
    samples of one distribution, whatever their sizes. One exponential per pair: the narrower kernels are
    its 4th and 16th powers."""
    widest = 2 * (BANDWIDTHS[-1] * scale) ** 2

    def k(x: torch.Tensor, y: torch.Tensor, same: bool) -> torch.Tensor:
        d2 = (x.pow(2).sum(1)[:, None] + y.pow(2).sum(1)[None, :] - 2 * x @ y.T).clamp_min(0)
        wide = torch.exp(-d2 / widest)
        middle = wide.pow(4)
        values = wide + middle + middle.pow(4)
        if not same:
            return values.mean()
        n = len(x)
        return (values.sum() - values.diagonal().sum()) / max(n * (n - 1), 1)

    return k(a, a, True) + k(b, b, True) - 2 * k(a, b, False)


def latent_mmd(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    """`kernel_mmd` of two latent samples, as a number."""
    with torch.no_grad():
        return float(kernel_mmd(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32),
                                scale))


class _Reverse(torch.autograd.Function):
    """Gradient reversal: identity forward, gradient times -weight backward (DANN)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.weight * grad, None


def discriminator(latent_dim: int, width: int = 32) -> nn.Sequential:
    """The domain classifier of the adversarial loss: latent -> logit of 'training domain'."""
    return nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, 1))


def check_target(counts: np.ndarray | torch.Tensor, n_channels: int, min_pixels: int,
                 where: str = "target") -> torch.Tensor:
    """The target spectra as a tensor, refused in one line when they cannot be adapted to: too few pixels,
    no counts on the model's axis, or spectra the DVE cannot read."""
    counts = torch.as_tensor(np.asarray(counts, dtype=np.float32)).reshape(-1, np.shape(counts)[-1])
    if counts.shape[-1] != n_channels:
        raise AdaptError(f"{where}: {counts.shape[-1]} channels, but the DVE was trained on {n_channels}")
    if float(counts.sum()) <= 0:
        raise AdaptError(f"{where}: no counts on the model's energy axis: no overlap in energy range to adapt to")
    counts = counts[counts.sum(-1) > 0]
    if len(counts) < min_pixels:
        raise AdaptError(f"{where}: {len(counts)} pixels with counts; adaptation needs at least {min_pixels}")
    check_spectra(counts, n_channels, where)
    return counts


@torch.no_grad()
def _encode(model: Embedding, counts: torch.Tensor, batch: int = 65536) -> torch.Tensor:
    return torch.cat([model(c) for c in counts.split(batch)])


def _split(n: int, measure: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices to train on and held-out indices to measure on (half of them at most, `measure` at most)."""
    order = torch.randperm(n, generator=gen)
    held = min(measure, n // 2)
    return order[held:], order[:held]


def adapt(model: Embedding, source_counts: np.ndarray, target_counts: np.ndarray,
          config: AdaptConfig = AdaptConfig()) -> Adapted:
    """Fine-tune a copy of `model`'s encoder on unlabelled `target_counts` (pixels, E) so that their latents match
    the latents the original encoder gives `source_counts` (training spectra, pixels x E).

    The model itself is left as it is. The MMD before and after is measured on held-out target and training
    spectra that no step trained on.
    """
    start = time.perf_counter()
    n_channels = model.cfg.n_channels
    target = check_target(target_counts, n_channels, config.min_pixels)
    source = torch.as_tensor(np.asarray(source_counts, dtype=np.float32))
    check_spectra(source, n_channels, "training spectra")
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model = model.cpu().eval()
    reference = _encode(model, source)  # the training latents, fixed: where the target should land
    scale = float(reference.std(0).mean())
    t_fit, t_held = _split(len(target), config.measure, gen)
    s_fit, s_held = _split(len(source), config.measure, gen)
    before = latent_mmd(_encode(model, target[t_held]), reference[s_held], scale)

    adapted = copy.deepcopy(model)
    for p in adapted.parameters():
        p.requires_grad_(False)
    for p in adapted.encoder.parameters():
        p.requires_grad_(True)
    adapted.encoder.train()
    critic = discriminator(model.cfg.latent_dim) if config.method == "adversarial" else None
    params = list(adapted.encoder.parameters()) + (list(critic.parameters()) if critic is not None else [])
    optimiser = torch.optim.Adam(params, lr=config.lr)
    for step in range(config.steps):
        ti = t_fit[torch.randint(len(t_fit), (config.batch,), generator=gen)]
        si = s_fit[torch.randint(len(s_fit), (config.batch,), generator=gen)]
        zt, zs = adapted(target[ti]), adapted(source[si])  # through the encoder being trained
        loss = config.anchor * (zs - reference[si]).pow(2).sum(-1).mean()
        if critic is None:
            loss = loss + kernel_mmd(zt, reference[si], scale)
        else:
            progress = step / max(config.steps - 1, 1)
            weight = 2.0 / (1.0 + np.exp(-10 * progress)) - 1.0  # DANN's schedule of the reversal's weight
            z = torch.cat([zs, zt])
            labels = torch.cat([torch.ones(len(zs)), torch.zeros(len(zt))])
            logits = critic(_Reverse.apply(z, float(weight))).squeeze(-1)
            loss = loss + F.binary_cross_entropy_with_logits(logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    adapted.eval()
    for p in adapted.parameters():
        p.requires_grad_(False)
    after = latent_mmd(_encode(adapted, target[t_held]), reference[s_held], scale)
    drift = float((_encode(adapted, source[s_held]) - reference[s_held]).pow(2).sum(-1).mean())
    return Adapted(adapted, config, before, after, drift, len(target), time.perf_counter() - start)
