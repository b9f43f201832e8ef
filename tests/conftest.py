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


@pytest.fixture(scope="session")
def smoke_book() -> Path:
    """The `smoke` profile run end to end and the book built offline (warnings as errors): `_build/html`."""
    xrfnb = [sys.executable, "-m", "xrfnb.cli"]
    env = {**__import__("os").environ, "XRFNB_ROOT": str(ROOT)}
    subprocess.run(xrfnb + ["run", "--profile", "smoke"], check=True, cwd=ROOT, env=env)
    subprocess.run(xrfnb + ["book"], check=True, cwd=ROOT, env=env)
    assert json.loads((ROOT / "book" / "executed" / "run.json").read_text())["profile"] == "smoke"
    return ROOT / "_build" / "html"
