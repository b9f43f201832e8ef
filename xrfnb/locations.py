"""Where the project's files are: the checkout, found in this one place for the library and the pipeline.

The checkout is the folder holding `_toc.yml` and `notebooks/`. It is looked for in this order:

1. `XRFNB_ROOT`, when set: an explicit choice. Tests point it at a throwaway project, and the kernels the
   runner starts inherit it, so it must win over everything else.
2. The checkout around the imported package (an editable install, or `PYTHONPATH` set to a clone): the
   folder above `xrfnb/`. The answer then does not depend on the folder the user stands in.
3. The current folder or one above it (a regular install used from inside a clone).

An installed package with none of these has no checkout (`checkout()` is None): what the library needs
then comes from the package's own data (`xrfnb/data/`, the bundled palettes and paper results, read with
`importlib.resources`), and the pipeline works in the current folder (`project_root()`).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

VARIABLE = "XRFNB_ROOT"


def is_checkout(folder: Path) -> bool:
    """Whether `folder` is the top of a checkout: it holds `_toc.yml` and a `notebooks/` folder."""
    return (folder / "_toc.yml").is_file() and (folder / "notebooks").is_dir()


def package_folder() -> Path:
    """The folder of the imported `xrfnb` package (in a checkout, or in site-packages)."""
    return Path(str(resources.files("xrfnb"))).resolve()


def checkout() -> Path | None:
    """The project's checkout, in the order of the module's docstring; None for an installed package used
    outside any clone."""
    if os.environ.get(VARIABLE):
        return Path(os.environ[VARIABLE]).resolve()
    around = package_folder().parent
    if is_checkout(around):
        return around
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if is_checkout(folder)), None)


def project_root() -> Path:
    """Where the pipeline reads and writes (`notebooks/`, `runs/`, `book/`): the checkout, else the
    current folder."""
    return checkout() or Path.cwd().resolve()


def site_url(root: Path) -> str | None:
    """The published book's address, read from the checkout's `_config.yml`: its `html.baseurl` where set,
    else the GitHub Pages address of its `repository.url` (where `.github/workflows/book.yml` publishes the
    book); None when neither gives one."""
    import re

    import yaml

    config = Path(root) / "_config.yml"
    settings = (yaml.safe_load(config.read_text()) or {}) if config.exists() else {}
    base = (settings.get("html") or {}).get("baseurl")
    if base:
        return base.rstrip("/") + "/"
    found = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?",
                         (settings.get("repository") or {}).get("url", ""))
    return f"https://{found.group(1).lower()}.github.io/{found.group(2)}/" if found else None
