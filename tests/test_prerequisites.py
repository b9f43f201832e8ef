"""A chapter opened on its own: which earlier stages it builds, the GPU-profile message, the runner's guard."""

import pytest

from xrfnb.pipeline import prerequisites, runner, stages
from xrfnb.pipeline.prerequisites import stages_to_build

from conftest import ROOT

ALL = [cls.stage for cls in stages.STAGES]


def done_except(*not_done):
    return lambda stage: stage not in not_done


def test_every_stage_has_a_notebook_and_reads_only_what_its_earlier_stages_write():
    stems = [nb.stem for nb in runner.stages(ROOT / "notebooks")]
    assert stems == ALL
    writer = prerequisites.writer()
    for cls in stages.STAGES:
        for file in cls.reads:
            assert file in writer, f"{cls.stage} reads {file}, which no stage writes"
            assert writer[file] in cls.after, f"{cls.stage} reads {file} but does not list {writer[file]} in after"
        assert all(earlier < cls.stage for earlier in cls.after)


def test_fresh_clone_builds_every_earlier_stage_the_chapter_depends_on():
    assert stages_to_build("06_train_smalluvit", lambda s: False) == [
        "01_pigments", "02_seed_images", "03_synthetic_maxrf", "04_train_dve", "05_embedded_dataset"]
    assert stages_to_build("01_pigments", lambda s: False) == []


def test_nothing_is_built_when_the_earlier_stages_are_done():
    assert stages_to_build("07_evaluate", done_except()) == []


def test_only_stages_the_chapter_depends_on_are_built():
    # 04 reads only the dataset: a stale embedding (05) is left alone
    assert stages_to_build("04_train_dve", done_except("05_embedded_dataset")) == []
    assert stages_to_build("07_evaluate", done_except("04_train_dve", "05_embedded_dataset")) == [
        "04_train_dve", "05_embedded_dataset"]


def test_runner_adds_the_earlier_stages_of_a_selection_that_are_not_done(tmp_path):
    all_stages = [tmp_path / f"{stem}.ipynb" for stem in ALL]
    none_done = {stem: False for stem in ALL}
    chosen = runner.with_prerequisites(runner.select(all_stages, ["04"]), all_stages, none_done)
    assert [nb.stem for nb in chosen] == ["01_pigments", "02_seed_images", "03_synthetic_maxrf", "04_train_dve"]
    chosen = runner.with_prerequisites(runner.select(all_stages, ["04"]), all_stages,
                                       {**none_done, "01_pigments": True, "02_seed_images": True})
    assert [nb.stem[:2] for nb in chosen] == ["03", "04"]


def test_a_fresh_run_directory_plans_every_stage_as_not_done(tmp_path):
    steps = runner.plan(runner.load_profile("smoke").params, tmp_path)
    assert list(steps) == ALL and not any(step["done"] for step in steps.values())
    again = runner.plan(runner.load_profile("smoke").params, tmp_path)
    assert {s: v["key"] for s, v in steps.items()} == {s: v["key"] for s, v in again.items()}
    laptop = runner.plan(runner.load_profile("laptop").params, tmp_path)
    assert laptop["01_pigments"]["key"] == steps["01_pigments"]["key"]  # same palette parameters
    assert laptop["03_synthetic_maxrf"]["key"] != steps["03_synthetic_maxrf"]["key"]
    assert laptop["07_evaluate"]["key"] != steps["07_evaluate"]["key"]  # keys follow the data


def test_gpu_profile_without_a_gpu_suggests_smoke(monkeypatch):
    monkeypatch.setattr(runner, "_cuda_available", lambda: False)
    with pytest.raises(runner.RunError, match="needs a CUDA GPU.*smoke"):
        runner.open_stage("lite", "06_train_smalluvit.ipynb")


def test_inside_the_runner_a_missing_input_is_named_not_built(tmp_path, monkeypatch):
    monkeypatch.setenv("XRFNB_ROOT", str(tmp_path))
    monkeypatch.setenv(runner.UNDER_RUNNER, "1")
    monkeypatch.setattr(runner, "run", lambda *a, **k: pytest.fail("the runner must not start a nested run"))
    with pytest.raises(runner.RunError, match=r"embedded\.h5.*--only 01 02 03 04 05"):
        runner.open_stage("smoke", "06_train_smalluvit.ipynb")


def test_a_chapter_opened_alone_runs_its_missing_stages_through_the_runner(tmp_path, monkeypatch):
    monkeypatch.setenv("XRFNB_ROOT", str(tmp_path))
    monkeypatch.delenv(runner.UNDER_RUNNER, raising=False)
    calls = []
    monkeypatch.setattr(runner, "run", lambda profile, only, overrides, progress: calls.append((profile, only)))
    from xrfnb.palette import pigments

    run = tmp_path / "runs" / "smoke"
    pigments.run_stage(run, pigments.PaletteParams())
    runner.open_stage("smoke", "03_synthetic_maxrf.ipynb")
    assert calls == [("smoke", ["02_seed_images"])]


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch):
    """A run directory where only the palette stage (01) is done; `xrfnb run` is replaced by a recorder."""
    from xrfnb.palette import pigments

    monkeypatch.setenv("XRFNB_ROOT", str(tmp_path))
    for name in ("WORLD_SIZE", "SLURM_NTASKS", runner.UNDER_RUNNER):
        monkeypatch.delenv(name, raising=False)
    pigments.run_stage(tmp_path / "runs" / "smoke", pigments.PaletteParams())
    calls = []
    monkeypatch.setattr(runner, "run", lambda profile, only, overrides, progress: calls.append((only, overrides)))
    return calls


COMMANDS = {  # a single-stage command, the stage it runs, and where its work is replaced by a recorder
    ("stage", "generate"): ("03_synthetic_maxrf", "synthetic.dataset", "run_stage"),
    ("stage", "embed"): ("05_embedded_dataset", "embedding.embedded", "embed_stage"),
    ("train", "dve"): ("04_train_dve", "embedding.dve", "run_stage"),
    ("train", "smalluvit"): ("06_train_smalluvit", "models.recolour", "run_stage"),
    ("scaling",): ("06_train_smalluvit", "scaling.scaling_study", "run_stage"),
}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_single_stage_command_runs_what_run_only_would_run_first(fresh_clone, command, monkeypatch):
    import importlib

    from xrfnb.pipeline import cli

    stage, module, function = COMMANDS[command]
    worked = []
    monkeypatch.setattr(importlib.import_module(f"xrfnb.{module}"), function,
                        lambda *a, **k: worked.append(fresh_clone[:]) or {"models": []})
    assert cli.main([*command, "--set", "seed_limit=4", "--set", "dve_epochs=1"]) == 0
    done = {name: name == "01_pigments" for name in ALL}
    all_stages = [ROOT / "notebooks" / f"{name}.ipynb" for name in ALL]
    as_run_only = [nb.stem for nb in runner.with_prerequisites(runner.select(all_stages, [stage[:2]]),
                                                               all_stages, done) if nb.stem != stage]
    ((only, overrides),) = fresh_clone
    assert only == as_run_only and only[0] == "02_seed_images"
    assert "seed_limit=4" in overrides  # the built stages get the overrides they use, and only those
    assert ("dve_epochs=1" in overrides) == ("04_train_dve" in only)
    assert worked == [fresh_clone]  # the stage itself ran after its inputs


def test_one_shard_of_many_names_the_command_instead_of_building(fresh_clone, capsys):
    from xrfnb.pipeline import cli

    assert cli.main(["stage", "generate", "--shard", "0/2", "--set", "seed_limit=4", "--set", "n_samples=8"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "`xrfnb run --profile smoke --only 02 --set seed_limit=4` first" in err
    assert fresh_clone == []


def test_a_rank_under_torchrun_names_the_command_too(fresh_clone, capsys, monkeypatch):
    from xrfnb.pipeline import cli

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cli.main(["train", "dve"]) == 1
    assert "`xrfnb run --profile smoke --only 02 03` first" in capsys.readouterr().err
    assert fresh_clone == []
