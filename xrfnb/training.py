"""What both models' training shares: a quiet, deterministic Lightning Trainer with checkpoints and CSV logs."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger


def quiet() -> None:
    """Keep Lightning's banners, tips and data-loader hints out of notebook pages."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*litlogger.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")


def trainer(out_dir: Path, epochs: int, accelerator: str, callbacks: list[Callback] = (),
            precision: str | None = None) -> tuple[L.Trainer, CSVLogger]:
    """A Trainer that writes `out_dir/last.ckpt` every epoch and per-epoch metrics to `out_dir/logs/metrics.csv`."""
    quiet()
    logger = CSVLogger(out_dir, name="", version="logs")
    checkpoints = ModelCheckpoint(dirpath=out_dir, save_last=True, save_top_k=0)
    t = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, deterministic=True, logger=logger,
                  enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1,
                  callbacks=[checkpoints, *callbacks], precision=precision)
    return t, logger


def resume_path(out_dir: Path, key: str) -> str | None:
    """`out_dir/last.ckpt` if an earlier run with the same `key` (data and settings) left one, else None.

    A checkpoint from a run with other data or settings is discarded, never resumed.
    """
    out_dir = Path(out_dir)
    last, stamp = out_dir / "last.ckpt", out_dir / "run.key"
    if last.exists() and stamp.exists() and stamp.read_text() == key:
        return str(last)
    last.unlink(missing_ok=True)
    stamp.write_text(key)
    return None


def set_sampler_epoch(trainer: L.Trainer, epoch: int) -> None:
    """Tell the training sampler which epoch starts (Lightning's own count can lag after a resume)."""
    loader = trainer.train_dataloader
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
