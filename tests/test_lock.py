"""The lock: it pins every declared dependency at a version the declaration allows; the run record names it."""

import tomllib

from packaging.markers import default_environment
from packaging.requirements import Requirement

from xrfnb.pipeline import lock

from conftest import ROOT


def declared() -> list[Requirement]:
    """What `make install` installs: the dependencies and the `test` and `bench` extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["test"] + extras["bench"]]


def test_lock_pins_every_declared_dependency_within_its_range():
    pins = lock.pins(ROOT / lock.LOCK_FILE)
    problems = []
    for req in declared():
        if req.marker and not req.marker.evaluate(default_environment()):
            continue
        version = pins.get(lock.canonical(req.name))
        if version is None:
            problems.append(f"{req.name} is not in {lock.LOCK_FILE}")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} does not satisfy {req}")
    assert not problems, "; ".join(problems) + " (run `make lock`)"


def test_lock_leaves_out_the_project_itself():
    assert "xrfnb" not in lock.pins(ROOT / lock.LOCK_FILE)


def test_status_names_the_hash_and_the_differences(tmp_path):
    path = tmp_path / "requirements.lock"
    path.write_text("# a comment\nnumpy==0.0.1\nno-such-package-xrfnb==1.0\n")
    status = lock.status(path)
    assert status["file"] == "requirements.lock" and len(status["sha256"]) == 64
    assert len(status["differs"]) == 1 and status["differs"][0].startswith("numpy ")
    assert lock.status(tmp_path / "missing.lock")["file"] is None
