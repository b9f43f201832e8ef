"""What both models' training shares: a quiet, deterministic Lightning Trainer with checkpoints and CSV logs."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
import pandas as pd

from .io import atomic_path


def quiet() -> None:
    """Keep Lightning's banners, tips and data-loader hints out of notebook pages."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*litlogger.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*exists and is not empty.*")


class EpochCSV(Callback):
    """One row of epoch-level metrics per epoch in `path`; rows of earlier epochs survive a resume."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        row = {"epoch": trainer.current_epoch,
               **{k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}}
        rows = pd.read_csv(self.path) if self.path.exists() else pd.DataFrame()
        if len(rows):
            rows = rows[rows["epoch"] < trainer.current_epoch]
        with atomic_path(self.path) as tmp:
            pd.concat([rows, pd.DataFrame([row])], ignore_index=True).to_csv(tmp, index=False)


class EpochTimer(Callback):
    """Seconds of each epoch's training part and items (spectra or images) per second, logged as metrics."""

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start, self.items = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.items += len(batch[0])

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or not hasattr(self, "start"):
            return
        seconds = time.perf_counter() - self.start
        module.log("epoch_seconds", seconds, on_step=False, on_epoch=True)
        module.log("items_per_s", self.items / seconds, on_step=False, on_epoch=True)


def trainer(out_dir: Path, epochs: int, accelerator: str, callbacks: list[Callback] = (),
            precision: str | None = None) -> tuple[L.Trainer, Path]:
    """A Trainer that writes `out_dir/last.ckpt` and a row of `out_dir/metrics.csv` after every epoch."""
    quiet()
    metrics = Path(out_dir) / "metrics.csv"
    checkpoints = ModelCheckpoint(dirpath=out_dir, save_last=True, save_top_k=0)
    t = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, deterministic=True, logger=False,
                  enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                  callbacks=[checkpoints, EpochTimer(), EpochCSV(metrics), *callbacks], precision=precision)
    return t, metrics


def finished(out_dir: Path, key: str, final: str) -> bool:
    """Whether `out_dir/final` was written by a completed run with the same `key` and epoch count."""
    stamp = Path(out_dir) / "finished.key"
    return (Path(out_dir) / final).exists() and stamp.exists() and stamp.read_text() == key


def mark_finished(out_dir: Path, key: str) -> None:
    (Path(out_dir) / "finished.key").write_text(key)


def resume_path(out_dir: Path, key: str) -> str | None:
    """`out_dir/last.ckpt` if an earlier run with the same `key` (data and settings) left one, else None.

    A checkpoint from a run with other data or settings is discarded, never resumed.
    """
    out_dir = Path(out_dir)
    last, stamp = out_dir / "last.ckpt", out_dir / "run.key"
    if last.exists() and stamp.exists() and stamp.read_text() == key:
        return str(last)
    last.unlink(missing_ok=True)
    (out_dir / "metrics.csv").unlink(missing_ok=True)
    (out_dir / "finished.key").unlink(missing_ok=True)
    stamp.write_text(key)
    return None


def set_sampler_epoch(trainer: L.Trainer, epoch: int) -> None:
    """Tell the training sampler which epoch starts (Lightning's own count can lag after a resume)."""
    loader = trainer.train_dataloader
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
