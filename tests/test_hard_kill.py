"""Long stages survive a hard kill: SIGKILL part-way, rerun, and only the uncommitted items are made again.

Also: a damaged partial store (truncated, cut short inside a commit, flags without data) starts afresh with
a one-line warning, and a full disk stops the stage with one line, keeping the partial store for a resume.
"""

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from test_dataset import painting
from xrfnb import commits
from xrfnb.synthetic import dataset
from xrfnb.embedding import dve, embedded
from xrfnb.config import record_path
from xrfnb.io import write_json
from xrfnb.pipeline import cli, prerequisites, runner

ROOT = Path(__file__).resolve().parents[1]
EVERY = "60:8"  # commit every 8 items in the subprocesses: many commits in a short run


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, palette):
    """Four seed paintings and the palette file that every run here reads."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(1)
    (folder / "seeds").mkdir()
    for i in range(4):
        Image.fromarray(painting(rng)).save(folder / "seeds" / f"p{i}.png")
    palette.save(folder / "palette.h5")
    return folder


def env(root: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "XRFNB_ROOT": str(root), commits.VARIABLE: EVERY,
            "OMP_NUM_THREADS": "1"}


def flagged(partial: Path) -> np.ndarray | None:
    """The items a partial store flags done, read while its writer runs (None if it cannot be read now)."""
    try:
        with h5py.File(partial, "r", locking=False) as h5:
            return np.flatnonzero(h5["done"][()])
    except (OSError, KeyError):
        return None


def kill_part_way(args: list[str], root: Path, partial: Path, n: int, fraction: float = 0.6) -> np.ndarray:
    """Start `xrfnb ARGS`, SIGKILL it once `fraction` of the n items are committed; the items flagged done."""
    proc = subprocess.Popen([sys.executable, "-m", "xrfnb.pipeline.cli", *args], env=env(root), cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"finished before the kill: {proc.communicate()[1].decode()[-2000:]}"
        done = flagged(partial) if partial.exists() else None
        if done is not None and len(done) >= fraction * n:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("no progress before the deadline")
    done = flagged(partial)
    assert done is not None and 0 < len(done) < n
    return done


def rerun(args: list[str], root: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "xrfnb.pipeline.cli", *args], env=env(root), cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning" not in done.stderr  # a killed store is resumed, not damaged
    return done


def test_generation_killed_part_way_redoes_only_what_was_not_committed(inputs, tmp_path):
    n, size = 96, 16
    args = ["generate", "--seeds", str(inputs / "seeds"), "--samples", str(n), "--size", str(size),
            "--out", str(tmp_path / "run"), "--palette", str(inputs / "palette.h5")]
    partial = tmp_path / "run" / "dataset.h5.partial"
    committed = kill_part_way(args, tmp_path, partial, n)
    assert not (tmp_path / "run" / "dataset.h5").exists()

    out = rerun(args, tmp_path)
    card = json.loads((tmp_path / "run" / "dataset.card.json").read_text())
    assert card["made_now"] == n - len(committed)  # no committed item made twice, no missing one skipped
    assert f"{n - len(committed)} made now" in out.stdout
    with h5py.File(tmp_path / "run" / "dataset.h5", "r") as h5:
        assert h5["done"][()].all() and (h5["n_clusters"][()] > 0).all()  # no gap
    palette = dataset.Palette.load(inputs / "palette.h5")
    reference = dataset.generate(inputs / "seeds", tmp_path / "ref" / "dataset.h5", palette,
                                 dataset.GenerateConfig(samples=n, size=size), progress=False)
    assert card["content_hash"] == reference["content_hash"]
    assert not list((tmp_path / "run").glob("*.partial*"))


def inputs_done(run: Path, stage: str) -> None:
    """Record the stages `stage` depends on as done at the smoke profile (the keys its plan expects, with
    stand-ins for the files this test does not make), so that `xrfnb stage` builds none of them."""
    steps = runner.plan(runner.load_profile("smoke").params, run)
    for earlier in prerequisites.depends_on(stage):
        for file in steps[earlier]["params"].writes:
            (run / file).parent.mkdir(parents=True, exist_ok=True)
            (run / file).touch(exist_ok=True)
        write_json(record_path(run, earlier), {"stage": earlier, "key": steps[earlier]["key"]})


def embedded_hash(path: Path) -> str:
    with h5py.File(path, "r") as h5:
        assert h5["done"][()].all()
        return hashlib.sha256(h5["embedded"][()].tobytes() + h5["rgb"][()].tobytes()
                              + h5["split"][()].tobytes()).hexdigest()


def test_embedding_killed_part_way_redoes_only_what_was_not_committed(inputs, tmp_path):
    n = 64
    run = tmp_path / "runs" / "smoke"
    palette = dataset.Palette.load(inputs / "palette.h5")
    dataset.generate(inputs / "seeds", run / "dataset.h5", palette, dataset.GenerateConfig(samples=n, size=16),
                     progress=False)
    torch.manual_seed(0)
    config = dve.DVEConfig(n_channels=len(palette.energy))
    model = dve.DVE(config)
    (run / "dve").mkdir()
    torch.save({"hyper_parameters": {"config": asdict(config)}, "state_dict": model.state_dict()},
               run / "dve" / "dve.ckpt")
    inputs_done(run, embedded.EmbedParams.stage)
    args = ["stage", "embed", "--profile", "smoke"]
    committed = kill_part_way(args, tmp_path, run / "embedded.h5.partial", n)

    rerun(args, tmp_path)
    with h5py.File(run / "embedded.h5", "r") as h5:
        stats = json.loads(h5.attrs["stats"])
    assert stats["embedded_now"] == n - len(committed) < n
    store = dataset.Store(run / "dataset.h5")
    embedded.embed(dve.load(run / "dve" / "dve.ckpt", len(store.energy)), store, tmp_path / "ref.h5", "ref",
              batch_samples=8, progress=False)
    assert embedded_hash(run / "embedded.h5") == embedded_hash(tmp_path / "ref.h5")


def interrupted(inputs, out: Path, n: int, after: int) -> Path:
    """A partial store with `after` samples committed (the fill stopped by Ctrl-C)."""
    real, made = dataset._rows, []

    def stop(sample, k_max):
        if len(made) == after:
            raise KeyboardInterrupt
        made.append(sample["index"])
        return real(sample, k_max)

    dataset._rows = stop
    try:
        with pytest.raises(KeyboardInterrupt):
            dataset.generate(inputs / "seeds", out / "dataset.h5", dataset.Palette.load(inputs / "palette.h5"),
                             dataset.GenerateConfig(samples=n, size=16), progress=False,
                             every=commits.Every(items=4))
    finally:
        dataset._rows = real
    return out / "dataset.h5.partial"


def truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def mark_cut_short(path: Path) -> None:
    commits.marker(path).touch()


def flag_everything(path: Path) -> None:
    with h5py.File(path, "r+") as h5:
        h5["done"][...] = True


@pytest.mark.parametrize("damage, why", [(truncate, "unreadable"), (mark_cut_short, "commit was cut short"),
                                         (flag_everything, "fewer items than are flagged done")])
def test_a_damaged_partial_store_starts_afresh_with_a_one_line_warning(inputs, tmp_path, capfd, damage, why):
    n = 12
    partial = interrupted(inputs, tmp_path / "run", n, after=6)
    reference = dataset.generate(inputs / "seeds", tmp_path / "ref" / "dataset.h5",
                                 dataset.Palette.load(inputs / "palette.h5"), dataset.GenerateConfig(samples=n, size=16),
                                 progress=False)
    damage(partial)
    capfd.readouterr()
    card = dataset.generate(inputs / "seeds", tmp_path / "run" / "dataset.h5",
                            dataset.Palette.load(inputs / "palette.h5"), dataset.GenerateConfig(samples=n, size=16),
                            progress=False)
    lines = [line for line in capfd.readouterr().err.splitlines() if "warning" in line]
    assert len(lines) == 1 and str(partial) in lines[0] and why in lines[0] and "afresh" in lines[0]
    assert card["made_now"] == n and card["content_hash"] == reference["content_hash"]


def errors(stderr: str) -> str:
    """The one error line of a CLI run (the progress bar shares stderr)."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("xrfnb generate: error: "), stderr
    return lines[0]


def test_a_full_disk_stops_with_one_line_and_keeps_the_partial_store(inputs, tmp_path, capsys, monkeypatch):
    n = 16
    args = ["generate", "--seeds", str(inputs / "seeds"), "--samples", str(n), "--size", "16",
            "--out", str(tmp_path / "run"), "--palette", str(inputs / "palette.h5")]
    real, calls = commits._write_rows, []

    def fill_up(ds, index, values):  # the disk fills up during the third commit
        calls.append(ds.name)
        if len(calls) > 2 * 4 * 8 + 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(ds, index, values)

    monkeypatch.setenv(commits.VARIABLE, "60:4")
    monkeypatch.setattr(commits, "_write_rows", fill_up)
    assert cli.main(args) == 1
    err = errors(capsys.readouterr().err)
    partial = tmp_path / "run" / "dataset.h5.partial"
    assert str(partial) in err and "disk full" in err and "free" in err
    assert partial.exists() and not (tmp_path / "run" / "dataset.h5").exists()
    assert not commits.marker(partial).exists()
    committed = flagged(partial)
    assert 0 < len(committed) < n

    monkeypatch.setattr(commits, "_write_rows", real)
    assert cli.main(args) == 0
    capsys.readouterr()
    card = json.loads((tmp_path / "run" / "dataset.card.json").read_text())
    assert card["made_now"] == n - len(committed)
    reference = dataset.generate(inputs / "seeds", tmp_path / "ref" / "dataset.h5",
                                 dataset.Palette.load(inputs / "palette.h5"), dataset.GenerateConfig(samples=n, size=16),
                                 progress=False)
    assert card["content_hash"] == reference["content_hash"]


def test_too_little_free_space_is_refused_before_a_commit_writes(inputs, tmp_path, capsys, monkeypatch):
    args = ["generate", "--seeds", str(inputs / "seeds"), "--samples", "8", "--size", "16",
            "--out", str(tmp_path / "run"), "--palette", str(inputs / "palette.h5")]
    usage = commits.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(commits.shutil, "disk_usage", lambda p: usage._replace(free=4096))
    assert cli.main(args) == 1
    err = errors(capsys.readouterr().err)
    assert "4.0 KiB free" in err and "dataset.h5.partial" in err
    assert (tmp_path / "run" / "dataset.h5.partial").exists()


def test_a_bad_commit_interval_is_named(monkeypatch):
    monkeypatch.setenv(commits.VARIABLE, "soon")
    with pytest.raises(ValueError, match=commits.VARIABLE):
        commits.periodic()
    monkeypatch.setenv(commits.VARIABLE, "5:16")
    assert commits.periodic() == commits.Every(seconds=5.0, items=16)


KILL_DRIVER = Path(__file__).with_name("kill_driver.py")


def train(model: str, out: Path, epochs: int, kill: int | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, str(KILL_DRIVER), model, str(out), str(epochs)] + ([] if kill is None else [str(kill)])
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=KILL_DRIVER.parent,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("model", ["dve", "smalluvit"])
def test_training_killed_mid_epoch_resumes_from_its_last_checkpoint(tmp_path, model):
    whole = train(model, tmp_path / "whole" / "run", 2)
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = train(model, tmp_path / "cut" / "run", 2, kill=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    out = tmp_path / "cut" / "run"
    assert (out / "last.ckpt").exists() and not (out / "weights.json").exists()
    assert torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)["epoch"] == 0  # saved as epoch 0 ended
    assert pd.read_csv(out / "metrics.csv")["epoch"].tolist() == [0]

    resumed = train(model, out, 2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert pd.read_csv(out / "metrics.csv")["epoch"].tolist() == [0, 1]  # only the killed epoch again
    assert json.loads((out / "weights.json").read_text()) == \
        json.loads((tmp_path / "whole" / "run" / "weights.json").read_text())  # the same model


def test_an_unreadable_checkpoint_is_trained_afresh_with_a_warning(tmp_path, capfd):
    from xrfnb import training

    (tmp_path / "run.key").write_text("k")
    (tmp_path / "last.ckpt").write_bytes(b"PK\x03\x04 cut short")
    assert training.resume_path(tmp_path, "k", 3) is None
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "last.ckpt") in err and "afresh" in err
    assert not (tmp_path / "last.ckpt").exists()
