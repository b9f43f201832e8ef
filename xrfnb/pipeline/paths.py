"""Where a run's files live: the run directory and the book's output folders, under the project root
(`xrfnb.locations`, which says how the checkout is found).

The book shows one profile's outputs at a time (`book/executed`, `figures`, `results`). They are kept
per profile: a run of another profile first moves the shown outputs into `runs/<their profile>/book/`
and brings back its own from there, so a `smoke` run never overwrites a `laptop` run's pages.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..locations import project_root  # found in one place, for the library and the pipeline

OUTPUTS = ("executed", "figures", "results")


def run_dir(profile: str) -> Path:
    """A profile's working directory for large artifacts (outside git): `runs/<profile>/`."""
    path = project_root() / "runs" / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def book_dir(*parts: str) -> Path:
    """A folder under `book/` (created), e.g. `book_dir("figures")`."""
    path = project_root().joinpath("book", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shown_profile(root: Path | None = None) -> str | None:
    """The profile whose outputs the book folder holds (from `book/executed/run.json`), if any."""
    record = (root or project_root()) / "book" / "executed" / "run.json"
    try:
        return json.loads(record.read_text()).get("profile") if record.exists() else None
    except (OSError, ValueError):
        return None


def show_outputs(profile: str, root: Path | None = None) -> None:
    """Make the book folder hold `profile`'s outputs: put the shown ones away under their profile's run
    directory, and bring `profile`'s back. Outputs of no known profile are left where they are."""
    root = root or project_root()
    shown = shown_profile(root)
    if shown == profile:
        return
    if shown is not None:
        for part in OUTPUTS:
            _move(root / "book" / part, root / "runs" / shown / "book" / part)
    for part in OUTPUTS:
        _move(root / "runs" / profile / "book" / part, root / "book" / part)


def _move(src: Path, dest: Path) -> None:
    if not src.exists():
        return
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
