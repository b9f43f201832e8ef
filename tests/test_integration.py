"""The newcomer's path: the `smoke` profile end to end, then the book built offline with warnings as errors."""

import json

import nbformat
import pytest

from conftest import ROOT, user_work_digest


@pytest.mark.integration
def test_smoke_profile_runs_and_the_book_builds(smoke_project, smoke_book):
    record = json.loads((smoke_project / "book" / "executed" / "run.json").read_text())
    sources = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert record["profile"] == "smoke" and sorted(record["stages"]) == sources
    assert record["unused"] == {} and all(s["as_requested"] for s in record["stages"].values())
    for name in sources:
        nb = nbformat.read(smoke_project / "book" / "executed" / f"{name}.ipynb", as_version=4)
        assert not nb.metadata["papermill"].get("exception"), name
        assert "smoke" in json.dumps(nb.cells[:4]), f"{name} does not say which profile produced it"

    html = smoke_book
    assert (html / "index.html").exists()
    for name in sources:
        assert (html / "book" / "executed" / f"{name}.html").exists()
    record_page = (html / "book" / "execution_record.html").read_text()
    assert "smoke" in record_page and "01_pigments" in record_page


@pytest.mark.integration
def test_the_suite_leaves_a_users_runs_and_book_outputs_alone(smoke_book, request):
    """`make test` runs its smoke pipeline in a copy: an existing `runs/laptop` and the book outputs of the
    checkout are byte-identical afterwards."""
    assert user_work_digest() == request.config.user_work_before
