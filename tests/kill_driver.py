"""Train a tiny DVE or SmallUViT on CPU, SIGKILLing itself mid-epoch if asked; run as a script by
test_hard_kill.py.

Usage: python kill_driver.py dve|smalluvit OUT_DIR EPOCHS [KILL_EPOCH]. With KILL_EPOCH the process sends
itself SIGKILL after the first training batch of that epoch (no exception, no cleanup: what the OOM killer
does). At the end it writes `OUT_DIR/weights.json` with a hash of the final weights.
"""

import hashlib
import json
import os
import signal
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_dve import config as dve_config, spectra  # noqa: E402
from test_smalluvit import make_store, tiny_config  # noqa: E402

from xrfnb.embedding import dve
from xrfnb.models import recolour
from xrfnb import training  # noqa: E402


class Kill(L.Callback):
    def __init__(self, epoch: int | None):
        self.epoch = epoch

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == 0:
            os.kill(os.getpid(), signal.SIGKILL)


def with_kill(make, epoch):
    def trainer(out_dir, epochs, scale, callbacks=(), precision=None):
        return make(out_dir, epochs, scale, [*callbacks, Kill(epoch)], precision)
    return trainer


if __name__ == "__main__":
    model, out, epochs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    kill = int(sys.argv[4]) if len(sys.argv) > 4 else None
    torch.set_num_threads(1)
    training.trainer = with_kill(training.trainer, kill)
    if model == "dve":
        counts, _ = spectra()
        trained, _ = dve.train(counts[:480], counts[480:], dve_config(), epochs, 64, out)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        store = make_store(out.parent / "emb.h5")
        trained, _ = recolour.train(store, tiny_config(), epochs, 4, out)
    weights = b"".join(p.detach().cpu().numpy().tobytes() for p in trained.parameters())
    (out / "weights.json").write_text(json.dumps({"weights": hashlib.sha256(weights).hexdigest()}))
