"""The papermill runner: parameter injection, failures that name the cell, the run record, bad input."""

import json
import subprocess
import sys

import nbformat
import pytest

from xrfnb import book, runner


def write_notebook(path, params_source, body):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params_source)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(b) for b in body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A throwaway project with two stage notebooks; XRFNB_ROOT points the runner at it."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    write_notebook(tmp_path / "notebooks" / "01_first.ipynb",
                   'profile = "smoke"\nn_channels = 4\nseed = 1',
                   ["import json\njson.dump(dict(profile=profile, n_channels=n_channels, seed=seed), "
                    "open('first.json', 'w'))"])
    write_notebook(tmp_path / "notebooks" / "02_second.ipynb", "seed = 1",
                   ["import json\njson.dump(dict(seed=seed, has_channels='n_channels' in globals()), "
                    "open('second.json', 'w'))"])
    monkeypatch.setenv("XRFNB_ROOT", str(tmp_path))
    return tmp_path


def test_profile_parameters_are_injected_only_where_declared(project):
    record = runner.run("smoke", overrides=["n_channels=1024"], progress=False)
    first = json.loads((project / "notebooks" / "first.json").read_text())
    second = json.loads((project / "notebooks" / "second.json").read_text())
    assert first == {"profile": "smoke", "n_channels": 1024, "seed": 0}
    assert second == {"seed": 0, "has_channels": False}
    assert record["stages"]["01_first"]["parameters"] == {"profile": "smoke", "n_channels": 1024, "seed": 0}
    executed = nbformat.read(project / "book" / "executed" / "01_first.ipynb", as_version=4)
    tagged = [c.metadata["tags"] for c in executed.cells if "tags" in c.metadata]
    assert ["injected-parameters", "hide-cell"] in tagged and ["parameters", "hide-cell"] in tagged


def test_run_record_is_written(project):
    runner.run("smoke", progress=False)
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
    write_notebook(project / "notebooks" / "01_first.ipynb", "seed = 1", ["1 / 0"])
    result = subprocess.run([sys.executable, "-m", "xrfnb.cli", "run", "--only", "01"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "01_first failed in cell 2 ('1 / 0')" in result.stderr and "ZeroDivisionError" in result.stderr


@pytest.mark.parametrize("kwargs, message", [
    ({"profile_name": "huge"}, "unknown profile 'huge'"),
    ({"overrides": ["n_chanels=3"]}, "--set n_chanels: unknown parameter"),
    ({"overrides": ["n_channels=many"]}, "expected int"),
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


def test_every_profile_loads_with_the_same_keys():
    keys = {name: set(runner.load_profile(name).params) for name in runner.profile_names()}
    assert set(keys) >= {"smoke", "lite", "paper"}
    assert keys["smoke"] == keys["lite"] == keys["paper"]


def test_a_dying_kernel_is_reported_by_stage(project):
    write_notebook(project / "notebooks" / "02_second.ipynb", "seed = 1", ["import os\nos._exit(1)"])
    with pytest.raises(runner.RunError, match="stage 02_second (stopped|failed)"):
        runner.run("smoke", progress=False)
    assert not (project / "book" / "executed" / "02_second.ipynb").exists()


def test_the_record_tells_computed_work_from_reused_work(project, monkeypatch):
    """A stage whose artifact a rerun leaves untouched is 'reused', with the seconds and date it was computed."""
    from xrfnb import prerequisites

    write_notebook(project / "notebooks" / "01_first.ipynb", 'profile = "smoke"',
                   ["import os, pathlib\nout = pathlib.Path(os.environ['XRFNB_ROOT']) / 'runs' / profile / 'a.txt'\n"
                    "out.exists() or out.write_text('work')"])
    monkeypatch.setitem(prerequisites.WRITES, "01_first", ("a.txt",))
    first = runner.run("smoke", progress=False)["stages"]["01_first"]
    again = runner.run("smoke", progress=False)["stages"]["01_first"]
    assert first["reused"] is False and again["reused"] is True
    assert again["computed_seconds"] == first["seconds"] and again["computed_date"] == first["date"]
    page = book.execution_record_markdown(json.loads((project / "book" / "executed" / "run.json").read_text()))
    assert "| reused |" in page
    second = json.loads((project / "book" / "executed" / "run.json").read_text())["stages"]["02_second"]
    assert f"{first['seconds'] + second['seconds']:.1f} s of computation" in page  # reused at its first cost
    assert book.compute_seconds({"stages": {"a": again, "b": {**again, "computed_seconds": None}}}) == "unknown"
