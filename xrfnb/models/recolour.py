"""Training SmallUViT to recolour embedded MA-XRF images: data, the Lightning module, train and predict.

The paper's recipe (its section on SmallUViT): the redmean sRGB loss, MS-SSIM as the validation metric that drives
ReduceLROnPlateau, data augmentation, dropout and stochastic depth. Where it is silent [choice]: AdamW,
augmentation by the eight flips and 90-degree rotations applied jointly to input and target, inputs
standardised per channel with the training set's mean and standard deviation, bf16 autocast on GPU.
Beyond the paper, as options: a warm-up and cosine-decay schedule (`schedule="cosine"`).

Speed: a split that fits in memory is read from the store once; the training MS-SSIM (a curve, not what
drives the schedule) is computed on every `TRAIN_MS_SSIM_EVERY`-th training batch, a fixed sample; the
validation MS-SSIM on every validation image.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from .. import training
from ..config import ParameterError, StageParams, one_of, positive
from ..embedding.embedded import EmbeddedStore, channel_stats
from ..io import atomic_path
from ..metrics import ms_ssim, srgb_loss
from .smalluvit import SmallUViT, SmallUViTConfig


@dataclass(frozen=True)
class RecolourConfig:
    """The model and its optimisation. `arch` picks SmallUViT or a baseline (all read sizes from `model`)."""

    model: SmallUViTConfig = field(default_factory=SmallUViTConfig)
    arch: str = "smalluvit"
    lr: float = 1e-3
    weight_decay: float = 0.05
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    augment: bool = True
    seed: int = 0
    schedule: str = "plateau"  # the paper's ReduceLROnPlateau, or "cosine": linear warm-up, cosine decay to 0
    warmup: float = 0.05  # fraction of the training steps that warm up (schedule "cosine")
    stop_patience: int = 0  # stop once validation MS-SSIM has not improved for this many epochs (0: never)

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r} (known: {', '.join(ARCHITECTURES)})")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r} (known: {', '.join(SCHEDULES)})")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a fraction of the training steps in [0, 1), got {self.warmup}")
        if self.stop_patience < 0:
            raise ValueError(f"stop_patience counts epochs (0: never stop early), got {self.stop_patience}")

    @classmethod
    def from_dict(cls, d: dict) -> "RecolourConfig":
        return cls(**{**d, "model": SmallUViTConfig(**d["model"])})


ARCHITECTURES = ("smalluvit", "pixel_mlp", "unet")
SCHEDULES = ("plateau", "cosine")
#: The training MS-SSIM is computed on training batches 0, k, 2k, ... of every epoch (k this): a fixed
#: sample of about 1/k of the training images, so that the metric costs a few per cent of a step.
TRAIN_MS_SSIM_EVERY = 8
#: A split whose embedded images and targets take at most this many bytes is held in memory.
MEMORY_LIMIT = 4 << 30


def build_model(cfg: RecolourConfig) -> torch.nn.Module:
    """The network for `cfg.arch`: SmallUViT, or the per-pixel MLP or U-Net baselines."""
    from .baselines import PixelMLP, SmallUNet

    m = cfg.model
    if cfg.arch == "pixel_mlp":
        return PixelMLP(m.in_channels, out_channels=m.out_channels)
    if cfg.arch == "unet":
        return SmallUNet(m.in_channels, m.out_channels)
    return SmallUViT(m)


def augment(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random flip and 90-degree rotation (one of 8) applied to each input and its target."""
    choice = torch.randint(0, 8, (len(x),), generator=generator).to(x.device)
    x, y = x.clone(), y.clone()
    for t in range(1, 8):
        m = choice == t
        if m.any():
            xs, ys = x[m], y[m]
            if t >= 4:
                xs, ys = xs.flip(-1), ys.flip(-1)
            x[m], y[m] = torch.rot90(xs, t % 4, (-2, -1)), torch.rot90(ys, t % 4, (-2, -1))
    return x, y


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: weight decay on the weight matrices and kernels only.

    Biases, norm scales, the LSA temperatures (all of fewer than two dimensions) and the positional
    embedding are not decayed, as in ViT and U-ViT training: decay would pull them towards zero, which
    for a temperature or a norm scale is not a simpler model but a different one.
    """
    decay, keep = [], []
    for name, param in model.named_parameters():
        (keep if param.ndim < 2 or name.endswith("pos_embedding") else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


class Recolouring(L.LightningModule):
    """SmallUViT with the paper's loss and metric; input standardisation kept as buffers."""

    def __init__(self, config: RecolourConfig | dict, in_mean: torch.Tensor | None = None,
                 in_std: torch.Tensor | None = None):
        super().__init__()
        cfg = config if isinstance(config, RecolourConfig) else RecolourConfig.from_dict(config)
        self.cfg = cfg
        self.save_hyperparameters({"config": asdict(cfg)})
        self.model = build_model(cfg)
        c = cfg.model.in_channels
        self.register_buffer("in_mean", torch.zeros(c) if in_mean is None else in_mean.float())
        self.register_buffer("in_std", torch.ones(c) if in_std is None else in_std.float())
        self._augment_rng = torch.Generator().manual_seed(cfg.seed)

    def forward(self, embedded: torch.Tensor) -> torch.Tensor:
        x = (embedded.float() - self.in_mean[:, None, None]) / self.in_std[:, None, None]
        return self.model(x)

    def _check(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor, batch_idx: int, stage: str) -> None:
        bad = ~(torch.isfinite(x).flatten(1).all(1) & torch.isfinite(y).flatten(1).all(1))
        if bad.any():
            raise ValueError(f"{stage} step {batch_idx}: NaN or infinite values in sample(s) "
                             f"{index[bad].tolist()}; refusing to train on them")

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, index = batch
        self._check(x, y, index, batch_idx, "training")
        if self.cfg.augment:
            x, y = augment(x, y, self._augment_rng)
        pred = self(x)
        loss = srgb_loss(pred.float(), y)
        self._log_epoch("train_loss", loss, len(x))
        if batch_idx % TRAIN_MS_SSIM_EVERY == 0:
            self._log_epoch("train_ms_ssim", ms_ssim(pred.detach(), y), len(x))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, y, index = batch
        self._check(x, y, index, batch_idx, "validation")
        pred = self(x).float()
        self._log_epoch("val_loss", srgb_loss(pred, y), len(x))
        self._log_epoch("val_ms_ssim", ms_ssim(pred, y), len(x))

    def _log_epoch(self, name: str, value: torch.Tensor, batch_size: int) -> None:
        """An epoch mean, averaged over all ranks under DDP, so the scheduler and checkpoint agree on it."""
        self.log(name, value, on_step=False, on_epoch=True, batch_size=batch_size, sync_dist=True)

    def on_train_epoch_start(self) -> None:
        torch.manual_seed(self.cfg.seed * 100_003 + self.current_epoch + 7_919 * self.global_rank)
        self._augment_rng.manual_seed(self.cfg.seed * 7_919 + self.current_epoch + 100_003 * self.global_rank)
        training.set_sampler_epoch(self.trainer, self.current_epoch)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=False, on_epoch=True,
                 sync_dist=True)

    def configure_optimizers(self) -> dict:
        opt = torch.optim.AdamW(decay_groups(self.model, self.cfg.weight_decay), lr=self.cfg.lr)
        if self.cfg.schedule == "cosine":
            steps = int(self.trainer.estimated_stepping_batches)
            cosine = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps, self.cfg.warmup))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=self.cfg.plateau_factor,
                                                             patience=self.cfg.plateau_patience)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": plateau, "monitor": "val_ms_ssim"}}


def warmup_cosine(steps: int, warmup: float):
    """The learning-rate factor at each step: linear from 1/w up to 1 over the first w = warmup x steps
    steps, then half a cosine down to 0 at the last step."""
    w = max(1, round(warmup * steps)) if warmup > 0 else 0

    def factor(step: int) -> float:
        if step < w:
            return (step + 1) / w
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - w) / max(1, steps - w))))

    return factor


class EmbeddedSamples(torch.utils.data.Dataset):
    """(embedded image C x H x W, RGB target 3 x H x W in [0, 1], sample index) of a split.

    A split of at most `memory_limit` bytes (float16 images and uint8 targets, as stored) is read once
    into memory: one HDF5 read per sample and epoch cost the pipeline a tenth of its speed. A larger one
    is read from the store sample by sample (by the loader's workers).
    """

    def __init__(self, store: EmbeddedStore, split: str, memory_limit: int = MEMORY_LIMIT):
        self.store, self.index = store, store.indices(split)
        _, c, h, w = store.shape
        fits = len(self.index) * h * w * (2 * c + 3) <= memory_limit
        self.cached = store.arrays(split) if fits and len(self.index) else None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        i = int(self.index[j])
        emb, rgb = (self.cached[0][j], self.cached[1][j]) if self.cached is not None else (
            self.store.h5["embedded"][i], self.store.rgb(i))
        x = torch.from_numpy(emb.astype(np.float32))
        y = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        return x, y, i


class EmbeddedData(L.LightningDataModule):
    """Train and validation samples of an embedded store, in a seeded order, read by `workers` processes."""

    def __init__(self, store: EmbeddedStore, batch_size: int, seed: int, workers: int = 0):
        super().__init__()
        self.batch_size, self.seed, self.workers = batch_size, seed, workers
        self.train_set, self.val_set = EmbeddedSamples(store, "train"), EmbeddedSamples(store, "val")
        if len(self.train_set) == 0 or len(self.val_set) == 0:
            raise ValueError(f"{store.path}: the train and validation splits must not be empty "
                             f"(train {len(self.train_set)}, validation {len(self.val_set)})")

    def _loader(self, dataset: EmbeddedSamples,
                sampler: torch.utils.data.Sampler | None) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(dataset, batch_size=self.batch_size, sampler=sampler,
                                           num_workers=self.workers, persistent_workers=self.workers > 0,
                                           pin_memory=torch.cuda.is_available(),
                                           generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.train_set, training.EpochShuffle(len(self.train_set), self.seed))

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.val_set, None)


def check_store(store: EmbeddedStore, cfg: SmallUViTConfig) -> None:
    """The embedded images must have the model's channels and size."""
    _, c, h, w = store.shape
    if (c, h, w) != (cfg.in_channels, cfg.image_size, cfg.image_size):
        raise ValueError(f"{store.path}: embedded images are {c} x {h} x {w}, the model expects "
                         f"{cfg.in_channels} x {cfg.image_size} x {cfg.image_size}")


def train(store: EmbeddedStore, config: RecolourConfig, epochs: int, batch_size: int, out_dir: str | Path,
          accelerator: str = "cpu", precision: str | None = None, scale: training.Scale | None = None,
          workers: int = 0, callbacks: list[L.Callback] = (), compile: bool = False
          ) -> tuple[Recolouring, Path]:
    """Train (or resume, or reuse) SmallUViT on an embedded store; returns the best model and the metrics CSV.

    Writes `out_dir/last.ckpt` every epoch, `out_dir/best.ckpt` (highest validation MS-SSIM) and
    `out_dir/metrics.csv`. `precision` 'bf16-mixed' is the GPU default; `compile` runs the network through
    torch.compile (its checkpoints are the same); `workers` processes read the samples; `callbacks` are
    added to the Trainer's (e.g. to watch or stop a run).
    """
    check_store(store, config.model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from . import baselines, smalluvit
    from .. import metrics as metric_code

    key = training.run_key([asdict(config), batch_size, store.key, precision, compile],
                           (sys.modules[__name__], smalluvit, baselines, metric_code, training))
    if training.finished(out_dir, f"{key}:{epochs}", "best.ckpt"):
        return load(out_dir / "best.ckpt", config.model, config.arch), out_dir / "metrics.csv"
    L.seed_everything(config.seed, workers=True, verbose=False)
    data = EmbeddedData(store, batch_size, config.seed, workers)
    mean, std = channel_stats(store, "train")
    module = Recolouring(config, torch.from_numpy(mean), torch.from_numpy(std))
    if compile:
        module.model.compile()
    best = ModelCheckpoint(dirpath=out_dir, filename="best-tmp", monitor="val_ms_ssim", mode="max", save_top_k=1,
                           save_weights_only=True, enable_version_counter=False)
    stop = [training.plateau_stop(config.stop_patience)] if config.stop_patience else []
    trainer, metrics = training.trainer(out_dir, epochs, scale or training.Scale(accelerator),
                                        [best, *stop, *callbacks], precision)
    training.fit(trainer, module, data, training.resume_path(out_dir, key, epochs), f"{config.arch} training",
                 batch_size, "uvit_batch_size")
    if not best.best_model_path:
        raise RuntimeError(f"{config.arch} training saved no best checkpoint (did validation run?)")
    if trainer.is_global_zero:
        with atomic_path(out_dir / "best.ckpt") as tmp:
            tmp.write_bytes(Path(best.best_model_path).read_bytes())
    trainer.strategy.barrier()
    training.mark_finished(trainer, out_dir, f"{key}:{epochs}")
    return load(out_dir / "best.ckpt", config.model, config.arch), metrics


def precision(gpu: bool, fast: bool) -> str | None:
    """Lightning's precision for training: bf16 autocast on a GPU or when `fast`, else fp32."""
    return "bf16-mixed" if gpu or fast else None


def load(path: str | Path, expected: SmallUViTConfig | None = None,
         expected_arch: str | None = None) -> Recolouring:
    """Load a trained model; a missing checkpoint or one of another configuration is named as such."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no model checkpoint (train it first: the SmallUViT stage, or the "
                                f"baselines of the evaluation stage)")
    try:
        ckpt = training.load_checkpoint(path)
        config = RecolourConfig.from_dict(ckpt["hyper_parameters"]["config"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{path}: not a recolouring-model checkpoint ({type(err).__name__}: {err})") from None
    if expected is not None and config.model != expected:
        diff = {k: (v, getattr(config.model, k)) for k, v in asdict(expected).items()
                if getattr(config.model, k) != v}
        raise ValueError(f"{path}: checkpoint is of another configuration (expected vs found: {diff})")
    if expected_arch is not None and config.arch != expected_arch:
        raise ValueError(f"{path}: checkpoint is a {config.arch!r} model, expected {expected_arch!r}")
    module = Recolouring(config)
    module.load_state_dict(ckpt["state_dict"])
    return module.eval()


@torch.no_grad()
def predict(module: Recolouring, embedded: np.ndarray, batch: int = 32, device: str = "cpu") -> np.ndarray:
    """RGB predictions (n, 3, H, W) in [0, 1] for embedded images (n, C, H, W)."""
    module = module.to(device).eval()
    x = torch.as_tensor(np.asarray(embedded, dtype=np.float32))
    return torch.cat([module(b.to(device)).clamp(0, 1).float().cpu() for b in x.split(batch)]).numpy()


@dataclass(frozen=True)
class TrainParams(StageParams):
    """Chapter 6: the paper's SmallUViT and its training recipe, with this run's optimisation settings."""

    stage = "06_train_smalluvit"
    after = ("05_embedded_dataset",)
    reads = ("embedded.h5",)
    writes = ("smalluvit/best.ckpt",)
    code = ("xrfnb.models.recolour", "xrfnb.models.smalluvit", "xrfnb.models.baselines", "xrfnb.metrics", "xrfnb.training")
    unkeyed = frozenset({"strategy", "loader_workers"})

    seed: int = 0  # seeds initialisation, batches, augmentation
    uvit_epochs: int = 15  # training epochs (the paper: 100)
    uvit_batch_size: int = 8  # images per batch
    uvit_lr: float = 0.001  # AdamW learning rate
    uvit_weight_decay: float = 0.05  # AdamW weight decay
    uvit_dropout: float = 0.1  # dropout in attention and MLP
    uvit_drop_path: float = 0.1  # stochastic depth rate of the last block
    uvit_skip: str = "add"  # long skips: add (the paper's count) or concat (U-ViT's)
    uvit_patience: int = 3  # ReduceLROnPlateau patience (epochs without a better validation MS-SSIM)
    uvit_stop_patience: int = 0  # stop after this many epochs without a better one (0: all epochs, the paper's)
    devices: int = 1  # GPUs (or processes) for training
    num_nodes: int = 1  # nodes for training
    strategy: str = "auto"  # Lightning strategy
    loader_workers: int = 0  # processes reading embedded images during training
    uvit_fast: bool = False  # bf16 autocast + torch.compile in training (a GPU always uses bf16)

    def validate(self) -> None:
        positive(self.stage, uvit_epochs=self.uvit_epochs, uvit_batch_size=self.uvit_batch_size,
                 uvit_lr=self.uvit_lr, uvit_patience=self.uvit_patience, devices=self.devices,
                 num_nodes=self.num_nodes)
        one_of(self.stage, "uvit_skip", self.uvit_skip, ("add", "concat"))
        if self.uvit_stop_patience and self.uvit_stop_patience <= self.uvit_patience + 1:
            raise ParameterError(f"{self.stage}: uvit_stop_patience must be 0 or more than uvit_patience + 1 "
                                 f"({self.uvit_patience + 1}), so that the plateau schedule lowers the learning "
                                 f"rate before training stops; got {self.uvit_stop_patience}")

    def model_config(self, image_size: int, in_channels: int = 3) -> RecolourConfig:
        """The paper's SmallUViT for embedded images of `in_channels` x `image_size` px (the channels: chapter
        4's `dve_latent`, read from the embedded store), with these optimisation settings."""
        model = SmallUViTConfig(image_size=image_size, in_channels=in_channels, dropout=self.uvit_dropout,
                                drop_path=self.uvit_drop_path, skip=self.uvit_skip)
        return RecolourConfig(model=model, lr=self.uvit_lr, weight_decay=self.uvit_weight_decay,
                              plateau_patience=self.uvit_patience, stop_patience=self.uvit_stop_patience,
                              seed=self.seed)


def run_stage(run: Path, params: TrainParams) -> tuple[Recolouring, Path, RecolourConfig]:
    """The SmallUViT stage on a run directory (`embedded.h5` in, `smalluvit/` out), as the notebook and
    `xrfnb train` run it: bf16 autocast on a GPU, and with `params.uvit_fast` bf16 autocast and torch.compile
    wherever it runs (benchmarks/bench_smalluvit.py measures both); a finished training reused."""
    from ..device import torch_device

    run = Path(run)
    key = params.current_key(run)
    store = EmbeddedStore(run / "embedded.h5")
    config = params.model_config(store.shape[-1], store.shape[1])
    gpu = torch_device("auto") == "cuda"
    scale = training.Scale("gpu" if gpu else "cpu", params.devices, params.num_nodes, params.strategy)
    module, metrics_csv = train(store, config, params.uvit_epochs, params.uvit_batch_size, run / "smalluvit",
                                precision=precision(gpu, params.uvit_fast), scale=scale,
                                workers=params.loader_workers, compile=params.uvit_fast)
    params.record(run, key)
    return module, metrics_csv, config
