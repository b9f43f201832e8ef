"""The project root is found in one place (`xrfnb.locations`): from XRFNB_ROOT, the package's own
checkout, or the current folder; an installed package outside any clone uses its own data."""

import os
import subprocess
import sys

import pytest

from xrfnb import locations, prose
from xrfnb.palette import palette_file
from xrfnb.pipeline import paths

from conftest import ROOT


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The current folder is outside any checkout and XRFNB_ROOT is unset."""
    monkeypatch.delenv(locations.VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def installed(elsewhere, monkeypatch):
    """The package as installed in site-packages, used outside any clone."""
    site = elsewhere / "site-packages" / "xrfnb"
    site.mkdir(parents=True)
    monkeypatch.setattr(locations, "package_folder", lambda: site)
    prose.bibliography.cache_clear()
    yield elsewhere
    prose.bibliography.cache_clear()


def test_the_checkout_is_found_from_the_package_wherever_the_user_stands(elsewhere):
    assert locations.checkout() == ROOT
    assert paths.project_root() == ROOT  # the pipeline asks the same place


def test_a_python_started_outside_the_clone_finds_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != locations.VARIABLE}
    found = subprocess.run([sys.executable, "-c", "from xrfnb import locations; print(locations.checkout())"],
                           cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert found == str(ROOT)


def test_xrfnb_root_wins_over_the_packages_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv(locations.VARIABLE, str(tmp_path))
    assert locations.checkout() == tmp_path.resolve() == paths.project_root()


def test_a_regular_install_used_inside_a_clone_finds_it_from_the_current_folder(installed, monkeypatch):
    clone = installed / "clone"
    (clone / "notebooks").mkdir(parents=True)
    (clone / "_toc.yml").write_text("root: intro\n")
    monkeypatch.chdir(clone / "notebooks")
    assert locations.checkout() == clone


def test_an_installed_package_outside_any_clone_uses_its_own_data(installed):
    assert locations.checkout() is None
    assert locations.project_root() == installed  # where a run would write
    assert len(palette_file.read("paper").pigments) == 12  # the bundled palette, from the package
    with pytest.raises(palette_file.PaletteError, match="mine.yml: no such palette file"):
        palette_file.locate("mine.yml")
    assert prose.bibliography() == {}  # no checkout's bibliography: citations show their keys
    assert "ganx" in prose.cite_html("p", "ganx")
