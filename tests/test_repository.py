"""One repository address: `repository.url` in `_config.yml`, which every other mention must match."""

import json
import re
from pathlib import Path

import pytest
import yaml

from xrfnb.paintings import wikidata
from xrfnb.pipeline import book

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")


@pytest.fixture(scope="module")
def address() -> str:
    return book.repository_url(ROOT)


def test_the_book_reads_its_address_from_the_config(address):
    assert address == yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def test_citation_cff_names_the_configured_repository(address):
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["repository-code"].rstrip("/") == address


def test_the_readme_points_at_the_configured_repository_and_says_where_to_change_it(address):
    readme = (ROOT / "README.md").read_text()
    owner_name = address.removeprefix("https://github.com/")
    for link in ("https://mybinder.org/v2/gh/", "https://colab.research.google.com/github/"):
        found = re.findall(re.escape(link) + r"([\w.-]+/[\w.-]+)/", readme)
        assert found and set(found) == {owner_name}, f"README: {link} links name {set(found)}, not {owner_name}"
    assert "`repository.url`" in readme and "_config.yml" in readme


def test_the_install_script_clones_the_configured_repository(address):
    clones = re.findall(r'"git", "clone",[^\]]*"(https://[^"]+)"', (ROOT / "notebooks" / "install.py").read_text())
    assert clones == [address], f"notebooks/install.py clones {clones}, not {address}"


def test_every_notebook_runs_the_one_install_script_from_the_configured_repository(address):
    raw = address.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/notebooks/install.py"
    cells = {}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        found = [c for c in json.loads(notebook.read_text())["cells"] if c.get("id") == "install-xrfnb"]
        assert len(found) == 1, f"{notebook.name}: {len(found)} install cells"
        cells[notebook.name] = "".join(found[0]["source"])
    assert len(set(cells.values())) == 1, "the notebooks' install cells differ"
    fetched = re.findall(r'"(https://raw\.githubusercontent\.com/[^"]+)"', next(iter(cells.values())))
    assert fetched == [raw], f"the install cell fetches {fetched}, not {raw}"


def test_the_wikidata_user_agent_names_the_configured_repository(address):
    assert set(URL.findall(wikidata.USER_AGENT)) == {address}


def test_a_config_without_an_address_is_refused(tmp_path):
    (tmp_path / "_config.yml").write_text("title: x\n")
    with pytest.raises(RuntimeError, match="repository.url"):
        book.repository_url(tmp_path)
