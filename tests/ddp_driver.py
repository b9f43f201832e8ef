"""Train a tiny SmallUViT with 2-process DDP on CPU (gloo); run as a script by test_ddp.py.

Usage: python ddp_driver.py STORE OUT_DIR EPOCHS [KILL_EPOCH]. Lightning starts the second process by
running this script again. Each rank writes `OUT_DIR/rank<r>.json` with a hash of its final weights and
its learning rate; with KILL_EPOCH every rank exits hard in the middle of that epoch.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_smalluvit import tiny_config  # noqa: E402

from xrfnb.models import recolour
from xrfnb import training  # noqa: E402
from xrfnb.embedding.embedded import EmbeddedStore  # noqa: E402


class Report(L.Callback):
    """Each rank's final weights (hashed) and learning rate; a hard stop mid-epoch if asked."""

    def __init__(self, out: Path, kill_epoch: int | None):
        self.out, self.kill_epoch = out, kill_epoch

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.kill_epoch and batch_idx == 0:
            os._exit(3)

    def on_train_end(self, trainer, module):
        weights = b"".join(p.detach().cpu().numpy().tobytes() for p in module.parameters())
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps({
            "weights": hashlib.sha256(weights).hexdigest(),
            "lr": trainer.optimizers[0].param_groups[0]["lr"]}))


if __name__ == "__main__":
    store, out, epochs = EmbeddedStore(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    kill = int(sys.argv[4]) if len(sys.argv) > 4 else None
    torch.set_num_threads(1)
    config = recolour.RecolourConfig(**{**tiny_config().__dict__, "plateau_patience": 0})
    recolour.train(store, config, epochs, 2, out, scale=training.Scale("cpu", 2, 1, "ddp"),
                   callbacks=[Report(out, kill)])
