"""Explorers for the chapters: live ipywidgets in JupyterLab, precomputed and self-contained in the book.

Each chapter cell calls one function:

* `explore_datacube` (chapter 3): element maps and pixel spectra of a datacube, with a synthetic pixel's
  pigment mixture and colours;
* `explore_threshold` (chapter 3): what the similarity threshold does to one painting's clusters;
* `explore_latent` (chapter 4): the DVE's latent space, turnable, coloured by pigment;
* `explore_test_set` (chapter 7): any test image through any compared model, with scores and error map.
"""

from .datacube import DatacubeExplorer, explore_datacube
from .latent import LatentExplorer, explore_latent
from .testset import TestSetExplorer, explore_test_set
from .threshold import ThresholdExplorer, explore_threshold

__all__ = ["DatacubeExplorer", "LatentExplorer", "TestSetExplorer", "ThresholdExplorer", "explore_datacube",
           "explore_latent", "explore_test_set", "explore_threshold"]
