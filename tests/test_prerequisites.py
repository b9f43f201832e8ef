"""A chapter opened on its own: which earlier stages it builds, the GPU-profile message, the runner's guard."""

import pytest

from xrfnb import prerequisites, runner
from xrfnb.prerequisites import READS, WRITER, WRITES, stages_to_build

from conftest import ROOT

ALL_FILES = set(WRITER)


def present_only(files):
    return lambda file: file in files


def test_tables_name_the_notebooks_and_every_read_file_is_written_earlier():
    stems = {nb.stem for nb in runner.stages(ROOT / "notebooks")}
    assert set(WRITES) | set(READS) <= stems
    for stage, files in READS.items():
        for file in files:
            assert file in WRITER, f"{stage} reads {file}, which no stage writes"
            assert WRITER[file] < stage, f"{stage} reads {file}, written by the later {WRITER[file]}"


def test_fresh_clone_builds_every_earlier_stage_the_chapter_depends_on():
    assert stages_to_build("06_train_smalluvit", present_only(set())) == [
        "01_pigments", "02_seed_images", "03_synthetic_maxrf", "04_train_dve", "05_embedded_dataset"]
    assert stages_to_build("01_pigments", present_only(set())) == []


def test_nothing_is_built_when_the_inputs_are_there():
    assert stages_to_build("07_evaluate", present_only(ALL_FILES)) == []
    # 06 reads only embedded.h5: missing earlier files that it does not need are left alone
    assert stages_to_build("06_train_smalluvit", present_only({"embedded.h5"})) == []


def test_a_rebuilt_stage_reruns_the_stages_that_read_its_files():
    assert stages_to_build("07_evaluate", present_only(ALL_FILES - {"dve/dve.ckpt"})) == [
        "04_train_dve", "05_embedded_dataset", "06_train_smalluvit"]
    assert stages_to_build("05_embedded_dataset", present_only(ALL_FILES - {"dataset.h5"})) == [
        "03_synthetic_maxrf", "04_train_dve"]


def test_runner_adds_the_missing_earlier_stages_of_a_selection(tmp_path):
    all_stages = [tmp_path / f"{stem}.ipynb" for stem in sorted(set(WRITES) | set(READS))]
    (tmp_path / "run").mkdir()
    chosen = runner.with_prerequisites(runner.select(all_stages, ["04"]), all_stages, tmp_path / "run")
    assert [nb.stem for nb in chosen] == ["01_pigments", "02_seed_images", "03_synthetic_maxrf", "04_train_dve"]
    chosen = runner.with_prerequisites(runner.select(all_stages, ["03", "04"]), all_stages, tmp_path / "run")
    assert [nb.stem[:2] for nb in chosen] == ["01", "02", "03", "04"]


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
    monkeypatch.setattr(runner, "run", lambda profile, only, progress: calls.append((profile, only)))
    (tmp_path / "runs" / "smoke").mkdir(parents=True)
    (tmp_path / "runs" / "smoke" / "palette.h5").touch()
    runner.open_stage("smoke", "03_synthetic_maxrf.ipynb")
    assert calls == [("smoke", ["02_seed_images"])]
