"""Scale-out that is right: a 2-process DDP training on CPU (gloo) agrees across ranks and resumes."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from test_smalluvit import make_store

DRIVER = Path(__file__).with_name("ddp_driver.py")


def launch(store: Path, out: Path, epochs: int, kill_epoch: int | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, str(DRIVER), str(store), str(out), str(epochs)]
    args += [] if kill_epoch is None else [str(kill_epoch)]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=DRIVER.parent)


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_process_ddp_agrees_across_ranks_writes_once_and_resumes(tmp_path):
    store = tmp_path / "emb.h5"
    make_store(store, n=20)
    out = tmp_path / "run"

    killed = launch(store, out, 3, kill_epoch=1)
    assert killed.returncode != 0, killed.stdout + killed.stderr
    assert (out / "last.ckpt").exists() and not (out / "finished.key").exists()
    assert pd.read_csv(out / "metrics.csv")["epoch"].tolist() == [0]

    done = launch(store, out, 3)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]  # identical weights and learning rate on both ranks
    assert pd.read_csv(out / "metrics.csv")["epoch"].tolist() == [0, 1, 2]  # resumed, each epoch once
    assert (out / "best.ckpt").exists() and (out / "finished.key").exists()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*tmp*"))
    assert "sync_dist" not in done.stderr  # every epoch metric is reduced across ranks
