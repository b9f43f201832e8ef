"""Explorers for the chapters: live ipywidgets in JupyterLab, precomputed and self-contained in the book.

Each chapter cell calls one function:

* `explore_datacube` (chapter 3): element maps and pixel spectra of a datacube, with a synthetic pixel's
  pigment mixture and colours;
* `explore_threshold` (chapter 3): what the similarity threshold does to one painting's clusters;
* `explore_latent` (chapter 4): the DVE's latent space, turnable, coloured by pigment;
* `explore_test_set` (chapter 7): any test image through any compared model, with scores and error map.

Each is imported when first used, so that a chapter imports only the explorers it shows (chapter 3's
need no trained model, and no Lightning).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each explorer's name and the module of this package that defines it.
_MODULES = {"DatacubeExplorer": "datacube", "explore_datacube": "datacube", "LatentExplorer": "latent",
            "explore_latent": "latent", "TestSetExplorer": "testset", "explore_test_set": "testset",
            "ThresholdExplorer": "threshold", "explore_threshold": "threshold"}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
