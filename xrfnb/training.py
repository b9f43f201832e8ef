"""What both models' training shares: a quiet, deterministic Lightning Trainer with checkpoints and CSV logs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from .config import code_fingerprint
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
        if not trainer.is_global_zero:
            return
        values = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if not values:  # an epoch resumed from its end-of-validation checkpoint computed nothing: its row stands
            return
        row = {"epoch": trainer.current_epoch, **values}
        rows = pd.read_csv(self.path) if self.path.exists() else pd.DataFrame()
        if len(rows):
            rows = rows[rows["epoch"] < trainer.current_epoch]
        with atomic_path(self.path) as tmp:
            pd.concat([rows, pd.DataFrame([row])], ignore_index=True).to_csv(tmp, index=False)


class EpochTimer(Callback):
    """Seconds of each epoch's training part and items (spectra or images) per second, and the seconds of
    the epoch with its validation, logged as metrics."""

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start, self.items = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.items += len(batch[0])

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or not hasattr(self, "start"):
            return
        seconds = time.perf_counter() - self.start
        module.log("epoch_seconds", seconds, on_step=False, on_epoch=True, sync_dist=True)
        module.log("items_per_s", self.items / seconds, on_step=False, on_epoch=True, sync_dist=True)

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """The whole epoch so far, training and validation, as `epoch_total_seconds`."""
        if trainer.sanity_checking or not hasattr(self, "start"):
            return
        module.log("epoch_total_seconds", time.perf_counter() - self.start, on_step=False, on_epoch=True,
                   sync_dist=True)


class LastCheckpoint(Callback):
    """`last.ckpt` after every epoch's validation, written once (rank 0) and atomically, on every rank count.

    Lightning's own `ModelCheckpoint(save_last=True, save_top_k=0)` writes no last checkpoint under DDP,
    so a multi-process run could not resume; this one takes part on every rank, as saving requires.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            save_final(trainer, self.path, weights_only=False)


class EpochCheckpoint(Callback):
    """A resumable checkpoint at the end of one epoch's validation (`epoch`, counted from 0), with the key of
    what the epochs up to it depend on beside it (`<path>.key`): a training that shares those epochs with
    this one starts from it (`branch`) instead of computing them again."""

    def __init__(self, path: Path, epoch: int, key: str):
        self.path, self.epoch, self.key = Path(path), epoch, key

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.current_epoch != self.epoch:
            return
        stamp = self.path.with_suffix(".key")
        if trainer.is_global_zero:
            stamp.unlink(missing_ok=True)  # never a key beside a checkpoint it does not describe
        save_final(trainer, self.path, weights_only=False)
        if trainer.is_global_zero:
            stamp.write_text(self.key)


def branch(out_dir: Path, key: str, source: Path, source_key: str) -> str | None:
    """Start the run of `out_dir` (key `key`) from `source`, another training's `EpochCheckpoint`, when that
    checkpoint's key is `source_key` (the epochs both trainings share); returns the checkpoint to resume
    from, or None when there is none to share.

    The checkpoint becomes `out_dir/last.ckpt`, so the run goes on as an interrupted run of its own would,
    and the other training's metrics rows of the shared epochs become this run's first rows.
    """
    source, out_dir = Path(source), Path(out_dir)
    stamp, metrics = source.with_suffix(".key"), source.parent / "metrics.csv"
    if (source.parent.resolve() == out_dir.resolve() or not (source.exists() and metrics.exists() and stamp.exists())
            or stamp.read_text() != source_key):
        return None
    epoch = load_checkpoint(source)["epoch"]
    rows = pd.read_csv(metrics)
    with atomic_path(out_dir / "metrics.csv") as tmp:
        rows[rows["epoch"] <= epoch].to_csv(tmp, index=False)
    with atomic_path(out_dir / "last.ckpt") as tmp:
        tmp.write_bytes(source.read_bytes())
    (out_dir / "run.key").write_text(key)
    return str(out_dir / "last.ckpt")


@dataclass(frozen=True)
class Scale:
    """Where training runs: Lightning's devices, nodes and strategy (DDP across GPUs and nodes).

    Under `torchrun` or SLURM, Lightning reads the ranks from the environment; `devices` and
    `num_nodes` must match the launch.
    """

    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"


def trainer(out_dir: Path, epochs: int, scale: Scale, callbacks: list[Callback] = (),
            precision: str | None = None) -> tuple[L.Trainer, Path]:
    """A Trainer that writes `out_dir/last.ckpt` and a row of `out_dir/metrics.csv` after every epoch."""
    quiet()
    metrics = Path(out_dir) / "metrics.csv"
    checkpoints = LastCheckpoint(Path(out_dir) / "last.ckpt")
    # Lightning adds its own ModelCheckpoint (into ./checkpoints) unless one is given or checkpointing is off
    own = any(isinstance(c, ModelCheckpoint) for c in callbacks)
    t = L.Trainer(max_epochs=epochs, accelerator=scale.accelerator, devices=scale.devices,
                  num_nodes=scale.num_nodes, strategy=scale.strategy, deterministic=True, logger=False,
                  enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                  enable_checkpointing=own, default_root_dir=out_dir,
                  callbacks=[checkpoints, EpochTimer(), EpochCSV(metrics), *callbacks], precision=precision)
    # Deterministic algorithms stay on, but new tensors are not filled with NaN first: that debugging aid
    # changes no result (tested) and slowed the U-Net's CPU step when the cores were shared (RESULTS.md)
    torch.utils.deterministic.fill_uninitialized_memory = False
    return t, metrics


def fit(trainer: L.Trainer, module: L.LightningModule, data: L.LightningDataModule, ckpt_path: str | None,
        stage: str, batch_size: int, batch_parameter: str) -> None:
    """trainer.fit, turning a GPU out-of-memory error into one line that says what to lower."""
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    except torch.cuda.OutOfMemoryError:
        raise RuntimeError(f"{stage}: GPU out of memory at batch size {batch_size}; lower `{batch_parameter}` "
                           f"(e.g. xrfnb run --set {batch_parameter}={max(1, batch_size // 2)}); the run "
                           f"resumes from its last checkpoint") from None


def save_final(trainer: L.Trainer, path: Path, weights_only: bool = True) -> None:
    """Save a checkpoint once (rank 0), atomically, with every rank taking part as Lightning needs.

    `weights_only` leaves out the optimiser and loop state (a final model); without it the checkpoint
    can resume training.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    trainer.save_checkpoint(tmp, weights_only=weights_only)
    if trainer.is_global_zero:
        os.replace(tmp, path)
    trainer.strategy.barrier()


def load_checkpoint(path: Path) -> dict:
    """A checkpoint read weights-only: tensors and plain types, never arbitrary objects, so loading a model
    someone shared runs no code. One that needs more is refused in one line naming the file."""
    import pickle
    import re

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)|Unsupported operand \d+|Unsupported class \S+", str(err))
        what = f" ({found.group(1) or found.group(0)})" if found else ""
        raise ValueError(f"{path}: refused: loading it would unpickle arbitrary objects{what}; a model "
                         f"checkpoint holds only tensors and plain values") from None


def run_key(settings: list, code: tuple[ModuleType, ...], data: str = "") -> str:
    """What a training depends on, as one hash: its settings (JSON), what the modules that train it compute
    (`config.code_fingerprint`: a model trained by other code is trained again, but not after a comment
    edit) and the key of its data. `finished` and `resume_path` compare it."""
    fingerprint = code_fingerprint(*(m.__name__ for m in code))
    return hashlib.sha256(json.dumps([*settings, fingerprint, data]).encode()).hexdigest()


def array_digest(*arrays) -> str:
    """sha256 of arrays' bytes, fed one at a time (never concatenated): a data key for data that has none."""
    import numpy as np

    digest = hashlib.sha256()
    for a in arrays:
        digest.update(memoryview(np.ascontiguousarray(a)).cast("B"))
    return digest.hexdigest()


def finished(out_dir: Path, key: str, final: str) -> bool:
    """Whether `out_dir/final` was written by a completed run with the same `key` and epoch count."""
    stamp = Path(out_dir) / "finished.key"
    return (Path(out_dir) / final).exists() and stamp.exists() and stamp.read_text() == key


def mark_finished(trainer: L.Trainer, out_dir: Path, key: str) -> None:
    if trainer.is_global_zero:
        (Path(out_dir) / "finished.key").write_text(key)


def resume_path(out_dir: Path, key: str, epochs: int) -> str | None:
    """`out_dir/last.ckpt` if an earlier run with the same `key` (data and settings) stopped before `epochs`.

    A checkpoint from a run with other data or settings, one already past `epochs` (a shorter run is a
    different result), or one that cannot be read is discarded, never resumed. The checkpoint is written
    after every epoch, so a hard kill costs at most the epoch under way.
    """
    out_dir = Path(out_dir)
    last, stamp = out_dir / "last.ckpt", out_dir / "run.key"
    if last.exists() and stamp.exists() and stamp.read_text() == key:
        try:
            epoch = load_checkpoint(last).get("epoch", epochs)
        except ValueError:  # refused: it would unpickle arbitrary objects (never trained over silently)
            raise
        except Exception as err:  # a checkpoint cut short (a lost node): train afresh rather than fail
            print(f"xrfnb: warning: {last}: unreadable checkpoint ({type(err).__name__}); training afresh",
                  file=sys.stderr)
            epoch = epochs
        if epoch < epochs:
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


class EpochShuffle(torch.utils.data.Sampler):
    """`length` draws per epoch (n by default) from n items in consecutive seeded shuffled passes, one
    random order per pass: epoch e starts where epoch e - 1 ended, so every item is drawn equally often
    and the order depends only on (seed, epoch). Lightning calls `set_epoch` before each epoch. With the
    default length an epoch is one pass; the scaling study draws more than n from a training subset."""

    def __init__(self, n: int, seed: int, length: int | None = None):
        self.n, self.seed, self.epoch = n, seed, 0
        self.length = n if length is None else length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        if not self.length:
            return iter(())
        start = self.epoch * self.length
        first, last = start // self.n, (start + self.length - 1) // self.n
        passes = [torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + p))
                  for p in range(first, last + 1)]
        offset = start - first * self.n
        return iter(torch.cat(passes)[offset:offset + self.length].tolist())


def plateau_stop(patience: int, monitor: str = "val_ms_ssim", check_finite: bool = True) -> EarlyStopping:
    """Stop a training whose validation `monitor` (highest is best) has not improved for `patience` epochs.

    Beside the plateau schedule, a patience longer than the schedule's lets it lower the learning rate
    first; with `check_finite` a NaN or infinite value stops too.
    """
    return EarlyStopping(monitor, mode="max", patience=patience, check_finite=check_finite,
                         check_on_train_epoch_end=False)


def convergence(history: pd.DataFrame, patience: int, monitor: str = "val_ms_ssim",
                max_epochs: int | None = None) -> dict:
    """Whether a plateau-scheduled training converged, read from its own `metrics.csv` rows.

    Converged means: the learning rate was lowered at least once and the best `monitor` value (highest)
    lies at least `patience` epochs before the last epoch, so the schedule saw the curve stop improving.
    Epochs are counted from 1. With `max_epochs`, a training that ended before it is said to have been
    stopped by the stopping rule. Returns the numbers and a sentence that states them.
    """
    if history.empty or monitor not in history or "lr" not in history:
        raise ValueError(f"no training curve to judge (need the columns epoch, lr and {monitor})")
    epochs = len(history)
    best = int(np.argmax(history[monitor].to_numpy())) + 1
    lr = history["lr"].to_numpy()
    reductions = int((np.diff(lr) < 0).sum())
    since = epochs - best
    converged = reductions >= 1 and since >= patience
    lowered = (f"the learning rate was lowered {reductions} time{'s' if reductions != 1 else ''} "
               f"(from {lr[0]:.3g} to {lr[-1]:.3g})" if reductions else
               f"the learning rate was never lowered (it stayed at {lr[0]:.3g})")
    verdict = "Training converged" if converged else "Training had not converged"
    label = {"val_ms_ssim": "validation MS-SSIM", "val_loss": "validation loss"}.get(monitor, monitor)
    sentence = (f"{verdict}: its best {label} ({history[monitor].max():.4f}) came in epoch "
                f"{best} of {epochs}, {since} epoch{'s' if since != 1 else ''} before the end, and {lowered}.")
    stopped = max_epochs is not None and epochs < max_epochs
    if stopped:
        sentence += f" The stopping rule ended it after {epochs} of at most {max_epochs} epochs."
    if not converged:
        sentence += (f" A converged run needs the schedule to lower the rate and then {patience} epochs without a "
                     f"better value; this one stopped while still learning.")
    return {"epochs": epochs, "best_epoch": best, "epochs_after_best": since, "lr_reductions": reductions,
            "converged": converged, "stopped_early": stopped, "sentence": sentence}
