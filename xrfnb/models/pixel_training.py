"""One trainer for per-pixel networks: many AdamW steps on batches of single pixels, with the paper's loss.

Beyond the paper. The information budget's decoders (`xrfnb.evaluation.pixel_decoders`) and chapter 7's
pooled decoder (`xrfnb.models.pooled`) both train a small MLP on thousands of pixels a step, drawn from many
images, where an image model sees a few whole images a step. They share the network's layers, the pixel
batches, the loss, the optimiser and Lightning's loop; each passes in its own order of pixels (passes over
a subsample, or draws with replacement) and its own learning-rate schedule, so each trains as it did alone.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import lightning as L
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from ..metrics import srgb_loss
from ..training import quiet
from . import recolour

#: A learning-rate schedule for the trainer's optimiser, stepped after every optimiser step.
Schedule = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


def warmup_cosine(steps: int, warmup: float) -> Schedule:
    """Linear warm-up over the share `warmup` of `steps`, then half a cosine down to 0
    (`recolour.warmup_cosine`): the information budget's decoders."""
    def schedule(opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.LambdaLR(opt, recolour.warmup_cosine(steps, warmup))
    return schedule


def one_cycle(lr: float, steps: int) -> Schedule:
    """PyTorch's one-cycle policy peaking at `lr` after 5 % of `steps` (2 steps at least), then cosine
    decay; it also cycles AdamW's first beta: the pooled decoder's."""
    def schedule(opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.05, 2 / steps))
    return schedule


def mlp_layers(n_in: int, hidden: int, n_out: int, layer: Callable[[int, int], nn.Module]) -> list[nn.Module]:
    """The per-pixel MLP: three hidden layers of `hidden` units with GELU, each map a `layer` (a linear
    layer for pixels as rows, a 1 x 1 convolution for whole images)."""
    return [layer(n_in, hidden), nn.GELU(), layer(hidden, hidden), nn.GELU(), layer(hidden, hidden), nn.GELU(),
            layer(hidden, n_out)]


class Pixels(Dataset):
    """Inputs and colours of n pixels (n, ...), fetched a batch of indices at a time (no per-item calls)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"training pixels need as many colours as inputs (and some), got {len(x)} and {len(y)}")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: torch.Tensor | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


class Passes(Sampler):
    """`epochs` passes over n pixels, each a fresh permutation drawn by `generator` and cut into batches of
    `batch` (a pass's last batch may be smaller): every pixel once a pass, for a subsample of fixed size."""

    def __init__(self, n: int, batch: int, epochs: int, generator: torch.Generator):
        self.n, self.batch, self.epochs, self.generator = n, batch, epochs, generator

    def __len__(self) -> int:
        return self.epochs * math.ceil(self.n / self.batch)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for _ in range(self.epochs):
            yield from torch.randperm(self.n, generator=self.generator).split(self.batch)


def drawn(n: int, batch: int, steps: int, generator: torch.Generator) -> BatchSampler:
    """`steps` batches of `batch` pixels drawn uniformly with replacement from n: the steps, not the number
    of pixels, set the training's length."""
    sampler = RandomSampler(range(n), replacement=True, num_samples=steps * batch, generator=generator)
    return BatchSampler(sampler, batch, drop_last=True)


class PixelFit(L.LightningModule):
    """Trains `net`, which maps a batch of pixels' inputs to their colours in [0, 1], on the paper's redmean
    loss, by AdamW on `net`'s parameters with `schedule` stepped every step."""

    def __init__(self, net: nn.Module, lr: float, weight_decay: float, schedule: Schedule):
        super().__init__()
        self.net, self.lr, self.weight_decay, self.schedule = net, lr, weight_decay, schedule

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        pred = self.net(x)  # pixels as 1 x 1 images, whatever shape the net gives them
        loss = srgb_loss(pred.reshape(len(pred), -1, 1, 1), y.reshape(len(y), -1, 1, 1))
        self.log("train_loss", loss, prog_bar=False)
        return loss

    def configure_optimizers(self) -> dict:
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.schedule(opt), "interval": "step"}}


def fit(net: nn.Module, pixels: Pixels, batches: Sampler, lr: float, weight_decay: float,
        schedule: Schedule) -> nn.Module:
    """`net` trained by `PixelFit`, one optimiser step for each batch of indices `batches` yields, on the
    CPU and deterministically (Lightning's loop); returned in eval mode."""
    quiet()
    loader = DataLoader(pixels, sampler=batches, batch_size=None)
    trainer = L.Trainer(max_steps=len(batches), accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, deterministic=True)
    trainer.fit(PixelFit(net, lr, weight_decay, schedule), loader)
    return net.eval()
