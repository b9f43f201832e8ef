"""Shared fixtures: the project root, the default palette and the smoke book (each made once per session)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def palette():
    from xrfnb import pigments

    return pigments.paper_palette()


def _built(args: list[str], keep: Path) -> Path:
    """Build the book with `xrfnb book ARGS` and keep a copy of `_build/html` in `keep` (both books build
    into the same folder, so each test gets its own copy)."""
    import shutil

    env = {**__import__("os").environ, "XRFNB_ROOT": str(ROOT)}
    subprocess.run([sys.executable, "-m", "xrfnb.cli", "book", *args], check=True, cwd=ROOT, env=env)
    shutil.copytree(ROOT / "_build" / "html", keep)
    return keep


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> Path:
    """The `smoke` profile run end to end and the book built offline (warnings as errors): its html folder."""
    xrfnb = [sys.executable, "-m", "xrfnb.cli"]
    env = {**__import__("os").environ, "XRFNB_ROOT": str(ROOT)}
    subprocess.run(xrfnb + ["run", "--profile", "smoke"], check=True, cwd=ROOT, env=env)
    html = _built([], tmp_path_factory.mktemp("smoke") / "html")
    assert json.loads((ROOT / "book" / "executed" / "run.json").read_text())["profile"] == "smoke"
    return html


@pytest.fixture(scope="session")
def published_book(tmp_path_factory) -> Path:
    """The published book (the committed run in `book/published/`), built without running anything."""
    return _built(["--published"], tmp_path_factory.mktemp("published") / "html")
