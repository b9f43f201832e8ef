"""The GPU check's bookkeeping, on files written in its layout: the share of each stage's time the GPU was
busy, and bringing the packed files back into a checkout."""

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_stages  # noqa: E402


def write_run(path: Path) -> None:
    """A run record with one stage computed from t=1000 to t=1010 (UTC) and one reused."""
    path.write_text(json.dumps({"profile": "lite", "device": "GPU", "total_seconds": 15.0, "stages": {
        "04_train_dve": {"seconds": 10.0, "date": "1970-01-01T00:16:50+00:00", "reused": False},
        "01_pigments": {"seconds": 5.0, "date": "1970-01-01T00:16:40+00:00", "reused": True}}}))


def test_each_computed_stage_gets_the_mean_utilisation_of_its_own_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_stages.record, "save", lambda name, results: None)
    write_run(tmp_path / "run.json")
    samples = [f"{t},{u},{m}" for t, u, m in [(995, 100, 10), (1001, 50, 100), (1005, 100, 300), (1009, 0, 200),
                                            (1030, 100, 5)]]
    (tmp_path / "gpu.csv").write_text("\n".join(samples) + "\n1031,4")  # the last line was cut off by the stop
    (tmp_path / "phases.tsv").write_text("run\t1000\t1020\t0\nbench_synth\t1040\t1050\t124\n")
    found = gpu_stages.report(tmp_path / "run.json", tmp_path / "gpu.csv", tmp_path / "phases.tsv", "lite")
    dve = found["stages"]["04_train_dve"]
    assert dve["seconds"] == 10.0 and dve["gpu_samples"] == 3
    assert dve["gpu_busy_share"] == pytest.approx(0.5) and dve["gpu_memory_peak_MiB"] == 300
    assert "01_pigments" not in found["stages"]  # reused: it did no work in this run
    assert found["phases"]["run"]["gpu_busy_share"] == pytest.approx(0.5)
    assert found["phases"]["bench_synth"] == {"seconds": 10.0, "exit": 124, "gpu_busy_share": None,
                                              "gpu_memory_peak_MiB": None, "gpu_samples": 0}


def test_without_a_gpu_there_are_no_samples_and_no_share(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_stages.record, "save", lambda name, results: None)
    monkeypatch.setattr(gpu_stages.shutil, "which", lambda name: None)
    gpu_stages.sample(tmp_path / "gpu.csv")
    write_run(tmp_path / "run.json")
    found = gpu_stages.report(tmp_path / "run.json", tmp_path / "gpu.csv", tmp_path / "none.tsv", "lite")
    assert not found["sampled"] and found["stages"]["04_train_dve"]["gpu_busy_share"] is None


def checkout(tmp_path: Path) -> Path:
    """A git checkout holding the check's script and a committed published book."""
    repo = tmp_path / "repo"
    (repo / "benchmarks" / "results").mkdir(parents=True)
    for name in ("gpu_check.sh", "record.py"):
        shutil.copy(ROOT / "benchmarks" / name, repo / "benchmarks" / name)
    (repo / "book" / "published").mkdir(parents=True)
    (repo / "book" / "published" / "run.txt").write_text("laptop")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "start"], check=True)
    return repo


def unpack(repo: Path, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "benchmarks" / "gpu_check.sh"), "--unpack", str(folder)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})


def test_unpacking_puts_the_new_published_book_and_the_results_in_place(tmp_path):
    repo, back = checkout(tmp_path), tmp_path / "back"
    made = tmp_path / "made"
    (made / "book" / "published").mkdir(parents=True)
    model = np.random.default_rng(0).bytes(200_000)  # incompressible, so that it comes in several parts
    (made / "book" / "published" / "model.bin").write_bytes(model)
    (made / "benchmarks" / "results").mkdir(parents=True)
    (made / "benchmarks" / "results" / "synth_gpu.json").write_text(json.dumps(
        {"benchmark": "synth_gpu", "machine": "GPU: NVIDIA H200", "date": "2026-12-02", "gpu_cubes_per_s": 812.5}))
    back.mkdir()
    with tarfile.open(back / "check.tar.gz", "w:gz") as tar:
        tar.add(made / "benchmarks", "benchmarks")
    whole = tmp_path / "published.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        tar.add(made / "book", "book")
    data = whole.read_bytes()
    for i in range(0, len(data), 50_000):  # in parts, as the check splits it
        (back / f"published.tar.gz.part-{i // 50_000:02d}").write_bytes(data[i:i + 50_000])
    assert len(list(back.glob("published.tar.gz.part-*"))) > 1
    done = unpack(repo, back)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "book" / "published" / "model.bin").read_bytes() == model
    assert not (repo / "book" / "published" / "run.txt").exists()  # the committed book is replaced, not merged
    assert "gpu_cubes_per_s | 812.5" in (repo / "benchmarks" / "RESULTS.md").read_text()


def test_when_no_book_comes_back_the_committed_one_is_restored(tmp_path):
    repo, back = checkout(tmp_path), tmp_path / "back"
    subprocess.run(["git", "-C", str(repo), "rm", "-r", "-q", "--cached", "book/published"], check=True)
    shutil.rmtree(repo / "book" / "published")  # as --prepare leaves it
    back.mkdir()
    with tarfile.open(back / "check.tar.gz", "w:gz") as tar:
        tar.add(repo / "benchmarks" / "record.py", "benchmarks/record.py")
    done = unpack(repo, back)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "book" / "published" / "run.txt").read_text() == "laptop"
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True)
    assert "book/published" not in status.stdout


def test_nothing_back_is_a_one_line_error(tmp_path):
    repo = checkout(tmp_path)
    done = unpack(repo, tmp_path / "missing")
    assert done.returncode == 2 and done.stdout.count("\n") == 1 and "check.tar.gz not found" in done.stdout
