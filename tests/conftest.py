"""Shared fixtures: the project root and the default palette (computed once per session)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def palette():
    from xrfnb import pigments

    return pigments.paper_palette()
