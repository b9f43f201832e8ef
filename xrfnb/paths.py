"""Where a run's files live: the project root, the run directory, and the book's output folders."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout's top folder (holding `_toc.yml`), found from `XRFNB_ROOT` or by walking up from cwd."""
    if "XRFNB_ROOT" in os.environ:
        return Path(os.environ["XRFNB_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists() and (folder / "notebooks").is_dir():
            return folder
    return here


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
