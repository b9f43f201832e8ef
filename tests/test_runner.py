"""The papermill runner: parameter injection, failures that name the cell, the run record, bad input,
and planning by the stages' keys."""

import json
import subprocess
import sys

import nbformat
import pytest

from xrfnb.pipeline import book, runner, stages

TOY_STAGES = '''
from dataclasses import dataclass
from xrfnb.config import StageParams


@dataclass(frozen=True)
class First(StageParams):
    stage = "01_first"
    writes = ("first.txt",)
    unkeyed = frozenset({"workers"})
    n_channels: int = 4
    seed: int = 1
    workers: int = 1


@dataclass(frozen=True)
class Second(StageParams):
    stage = "02_second"
    after = ("01_first",)
    reads = ("first.txt",)
    writes = ("second.txt",)
    seed: int = 1
    limit: int = 3
'''

# A stage cell: write its file (counting how often it computed) and its record, as real stages do.
STAGE_CELL = """import os, pathlib, toy_stages
run = pathlib.Path(os.environ["XRFNB_ROOT"]) / "runs" / profile
run.mkdir(parents=True, exist_ok=True)
params = getattr(toy_stages, {cls!r}).from_params(globals())
if not params.done(run):
    (run / {file!r}).write_text(str(params.as_dict()))
    log = run / "computed.log"
    log.write_text((log.read_text() if log.exists() else "") + {stage!r} + "\\n")
params.record(run, params.current_key(run))
"""


def write_notebook(path, params_source, body):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params_source)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(b) for b in body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def toy_notebooks(root):
    write_notebook(root / "notebooks" / "01_first.ipynb", 'profile = "smoke"\nn_channels = 4\nseed = 1\nworkers = 1',
                   ["import json\njson.dump(dict(profile=profile, n_channels=n_channels, seed=seed), "
                    "open('first.json', 'w'))",
                    STAGE_CELL.format(cls="First", file="first.txt", stage="01_first")])
    write_notebook(root / "notebooks" / "02_second.ipynb", 'profile = "smoke"\nseed = 1\nlimit = 3',
                   ["import json\njson.dump(dict(seed=seed, has_channels='n_channels' in globals()), "
                    "open('second.json', 'w'))",
                    STAGE_CELL.format(cls="Second", file="second.txt", stage="02_second")])


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A throwaway project with two toy stages and their notebooks; XRFNB_ROOT points the runner at it.

    The toy stages' parameters replace the real ones (`stages.STAGES`), and their module is importable
    by the notebooks' kernels; the smoke profile's changes are kept out (they name real parameters)."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "toy_stages.py").write_text(TOY_STAGES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}")
    import toy_stages

    monkeypatch.setattr(stages, "STAGES", (toy_stages.First, toy_stages.Second))
    toy_notebooks(tmp_path)
    monkeypatch.setenv("XRFNB_ROOT", str(tmp_path))
    return tmp_path


def computed(project):
    log = project / "runs" / "smoke" / "computed.log"
    return log.read_text().split() if log.exists() else []


def test_each_stage_gets_its_own_parameters(project):
    record = runner.run("smoke", overrides=["n_channels=1024", "seed=0"], progress=False)
    first = json.loads((project / "notebooks" / "first.json").read_text())
    second = json.loads((project / "notebooks" / "second.json").read_text())
    assert first == {"profile": "smoke", "n_channels": 1024, "seed": 0}
    assert second == {"seed": 0, "has_channels": False}
    assert record["stages"]["01_first"]["parameters"] == {"n_channels": 1024, "seed": 0, "workers": 1}
    assert record["stages"]["02_second"]["parameters"] == {"seed": 0, "limit": 3}
    executed = nbformat.read(project / "book" / "executed" / "01_first.ipynb", as_version=4)
    tagged = [c.metadata["tags"] for c in executed.cells if "tags" in c.metadata]
    assert ["injected-parameters", "hide-cell"] in tagged and ["parameters", "hide-cell"] in tagged


def test_run_record_is_written(project):
    runner.run("smoke", progress=False)
    assert computed(project) == ["01_first", "02_second"]
    record = json.loads((project / "book" / "executed" / "run.json").read_text())
    assert record["profile"] == "smoke"
    assert set(record["stages"]) == {"01_first", "02_second"}
    assert all(s["seconds"] > 0 for s in record["stages"].values())
    for key in ("parameters", "git_commit", "versions", "device", "date", "total_seconds"):
        assert key in record
    assert "papermill" in record["versions"] and "numpy" in record["versions"]


def test_failure_names_the_cell_and_leaves_no_executed_copy(project):
    write_notebook(project / "notebooks" / "02_second.ipynb", "seed = 1",
                   ["x = 1", "raise ValueError('bad pigment')"])
    (project / "book" / "executed").mkdir(parents=True)
    (project / "book" / "executed" / "02_second.ipynb").write_text("{}")  # stale copy from an older run
    with pytest.raises(runner.RunError,
                       match=r"02_second failed in cell 3 \(\"raise ValueError.*ValueError: bad pigment"):
        runner.run("smoke", progress=False)
    assert (project / "book" / "executed" / "01_first.ipynb").exists()
    assert not (project / "book" / "executed" / "02_second.ipynb").exists()
    assert not list((project / "book" / "executed").glob(".*tmp*"))
    assert (project / "_build" / "failed" / "02_second.ipynb").exists()


def test_cli_exits_non_zero_with_one_line(project):
    """The command line (the real stages: a subprocess sees no toy ones) reports a failed cell in one line."""
    for nb in (project / "notebooks").glob("*.ipynb"):
        nb.unlink()
    write_notebook(project / "notebooks" / "01_pigments.ipynb", "n_channels = 512", ["1 / 0"])
    result = subprocess.run([sys.executable, "-m", "xrfnb.pipeline.cli", "run", "--only", "01"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "01_pigments failed in cell 2 ('1 / 0')" in result.stderr and "ZeroDivisionError" in result.stderr


@pytest.mark.parametrize("kwargs, message", [
    ({"profile_name": "huge"}, "unknown profile 'huge'"),
    ({"overrides": ["n_chanels=3"]}, "--set n_chanels: unknown parameter .did you mean n_channels. used by 01_first"),
    ({"overrides": ["n_channels=many"]}, "01_first: parameter n_channels expects int, got 'many'"),
    ({"overrides": ["seed"]}, "expected key=value"),
    ({"only": ["09"]}, "--only 09: no such stage"),
])
def test_bad_requests_are_refused_before_anything_runs(project, kwargs, message):
    with pytest.raises(runner.RunError, match=message):
        runner.run(**{"profile_name": "smoke", **kwargs})
    assert not (project / "book" / "executed" / "run.json").exists()


def test_notebook_without_parameters_cell_is_named(project):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, project / "notebooks" / "03_bare.ipynb")
    with pytest.raises(runner.RunError, match="03_bare.ipynb: no cell tagged 'parameters'"):
        runner.run("smoke")


def test_a_dying_kernel_is_reported_by_stage(project):
    write_notebook(project / "notebooks" / "02_second.ipynb", "seed = 1", ["import os\nos._exit(1)"])
    with pytest.raises(runner.RunError, match="stage 02_second (stopped|failed)"):
        runner.run("smoke", progress=False)
    assert not (project / "book" / "executed" / "02_second.ipynb").exists()


def test_the_record_tells_computed_work_from_reused_work(project):
    """A stage that was done before it ran is 'reused', with the seconds and date it was computed."""
    first_run = runner.run("smoke", progress=False)["stages"]
    first, again = first_run["01_first"], runner.run("smoke", progress=False)["stages"]["01_first"]
    assert computed(project) == ["01_first", "02_second"]  # the second run computed nothing
    assert first["reused"] is False and again["reused"] is True
    assert again["computed_seconds"] == first["seconds"] and again["computed_date"] == first["date"]
    page = book.execution_record_markdown(json.loads((project / "book" / "executed" / "run.json").read_text()))
    assert "| reused |" in page
    second = first_run["02_second"]
    assert f"{first['seconds'] + second['seconds']:.1f} s of computation" in page  # reused at its first cost
    assert book.compute_seconds({"stages": {"a": again, "b": {**again, "computed_seconds": None}}}) == "unknown"


def test_a_changed_parameter_reruns_the_stages_that_depend_on_it(project):
    """`--only 02 --set n_channels=8`: 02 reads 01's outputs, which the change makes stale, so 01 runs first
    and the record holds the parameters both were really made with."""
    runner.run("smoke", progress=False)
    record = runner.run("smoke", only=["02"], overrides=["n_channels=8"], progress=False)
    assert computed(project) == ["01_first", "02_second", "01_first", "02_second"]
    assert record["parameters"]["n_channels"] == 8 and record["unused"] == {}


def test_an_unkeyed_parameter_changes_no_key(project):
    runner.run("smoke", progress=False)
    runner.run("smoke", overrides=["workers=4"], progress=False)
    assert computed(project) == ["01_first", "02_second"]


def test_a_parameter_no_stage_used_is_flagged_not_recorded_as_the_runs(project, capsys):
    """`--only 01 --set limit=9 --set seed=5`: only 02 uses `limit`, and 02 does not run (01 does not
    read its outputs), so its outputs keep limit 3 and seed 1; the record says so."""
    runner.run("smoke", progress=False)
    record = runner.run("smoke", only=["01"], overrides=["limit=9", "seed=5"], progress=False)
    assert record["stages"]["01_first"]["parameters"]["seed"] == 5
    assert record["stages"]["02_second"]["parameters"] == {"seed": 1, "limit": 3}
    assert record["stages"]["02_second"]["as_requested"] is False
    assert record["unused"] == {"limit": 9}
    assert record["parameters"]["limit"] == 3
    assert record["parameters"]["seed"] == {"01_first": 5, "02_second": 1}
    assert "limit=9 is set, but no stage" in capsys.readouterr().out


def test_a_notebook_without_stage_parameters_is_named(project):
    write_notebook(project / "notebooks" / "03_third.ipynb", "seed = 1", ["x = 1"])
    with pytest.raises(runner.RunError, match="03_third.ipynb: no stage parameters"):
        runner.run("smoke", progress=False)


def test_another_profiles_pages_are_kept_not_overwritten(tmp_path):
    """A smoke run after a laptop run moves the laptop pages to runs/laptop/book/ and back again."""
    from xrfnb.pipeline import paths

    def pages(profile):
        for part in paths.OUTPUTS:
            (tmp_path / "book" / part).mkdir(parents=True, exist_ok=True)
            (tmp_path / "book" / part / f"{profile}.txt").write_text(profile)
        (tmp_path / "book" / "executed" / "run.json").write_text(json.dumps({"profile": profile}))

    pages("laptop")
    paths.show_outputs("smoke", tmp_path)
    assert (tmp_path / "runs" / "laptop" / "book" / "figures" / "laptop.txt").read_text() == "laptop"
    assert not (tmp_path / "book" / "figures").exists()
    pages("smoke")
    paths.show_outputs("laptop", tmp_path)
    assert sorted(p.name for p in (tmp_path / "book" / "figures").iterdir()) == ["laptop.txt"]
    assert paths.shown_profile(tmp_path) == "laptop"
    assert (tmp_path / "runs" / "smoke" / "book" / "results" / "smoke.txt").exists()


def test_a_stage_is_timed_out_at_a_multiple_of_its_planned_seconds_never_below_the_floor():
    profile = runner.Profile("p", "", "cpu", 600, stage_seconds={"04_train_dve": 300.0})
    assert profile.timeout_s("04_train_dve") == runner.TIMEOUT_FACTOR * 300
    assert profile.timeout_s("02_seed_images") == 600  # no plan: the floor
    assert runner.Profile("p", "", "cpu", 600, stage_seconds={"02_seed_images": 10.0}).timeout_s(
        "02_seed_images") == 600


def test_every_smoke_stage_has_a_plan_and_a_timeout_a_threefold_slowdown_meets():
    profile = runner.load_profile("smoke")
    for cls in stages.STAGES:
        planned = profile.stage_seconds[cls.stage]
        assert profile.timeout_s(cls.stage) >= 3 * planned + 60, cls.stage


def test_every_planned_stage_is_a_stage_and_a_plan_without_seconds_is_refused_in_one_line():
    known = {cls.stage for cls in stages.STAGES}
    for name in runner.profile_names():
        assert set(runner.load_profile(name).stage_seconds) <= known, name
    with pytest.raises(runner.RunError, match="not seconds"):
        runner.planned_seconds("odd", {"04_train_dve": "ten"})
    assert runner.planned_seconds("odd", {"04_train_dve": 10}) == {"04_train_dve": 10.0}
