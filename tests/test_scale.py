"""Running at scale: GPU profiles on a machine without one, out-of-memory messages, shard launch parsing."""

import pytest
import torch

from xrfnb import training
from xrfnb.pipeline import cli, runner


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_profile_without_a_gpu_says_so_before_running(monkeypatch, tmp_path):
    monkeypatch.setenv("XRFNB_ROOT", str(tmp_path))
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    from test_runner import write_notebook

    write_notebook(tmp_path / "notebooks" / "01_pigments.ipynb", "n_channels = 512", ["open('ran', 'w')"])
    with pytest.raises(RuntimeError, match="needs a CUDA GPU but torch sees none"):
        runner.run("lite")
    assert not (tmp_path / "notebooks" / "ran").exists()


def test_out_of_memory_names_the_stage_the_batch_size_and_the_parameter():
    class Exploding:
        def fit(self, *args, **kwargs):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(RuntimeError, match=r"SmallUViT training: GPU out of memory at batch size 64; lower "
                                           r"`uvit_batch_size` \(e.g. xrfnb run --set uvit_batch_size=32\)"):
        training.fit(Exploding(), None, None, None, "SmallUViT training", 64, "uvit_batch_size")


def test_shards_are_read_from_the_command_line_or_the_launcher(monkeypatch):
    assert cli._shard(None) == (0, 1)
    assert cli._shard("2/4") == (2, 4)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert cli._shard("auto") == (3, 8)
    with pytest.raises(ValueError, match="RANK < WORLD"):
        cli._shard("4/4")


def test_a_stage_run_from_the_command_line_takes_the_profile_and_the_overrides():
    params = runner.stage_params_at("laptop", "04_train_dve", ["dve_epochs=3"])
    assert params.dve_epochs == 3 and params.dve_spectra == 300_000 and params.dve_lr == 0.002
