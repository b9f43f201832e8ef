"""Every figure of the book is legible on a phone: drawn from small synthetic inputs of the shape a run gives
it, saved through `plots.save`, its smallest text as a 390 px phone shows it is at least the browser test's
7 px.

The arithmetic is the browser test's (`tests/reader_checks.js`, figureText): the height `plots.save` records
in the PNG (the smallest text in the image's own pixels), times the width the page shows the image at over
its own width. A phone shows an image at its own width, or at the column's width where it is wider
(`PHONE_COLUMN_PX`, which `tests/test_browser.py` checks against the built book).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from xrfnb import plots
from test_browser import PHONE, PHONE_COLUMN_PX

#: The browser test's smallest legible text as a phone shows it (CSS px), read where it is defined.
MIN_TEXT_PX = float(re.search(r"MIN_TEXT_PX = ([\d.]+)", (Path(__file__).with_name("reader_checks.js")).read_text())[1])


def shown_text_px(path: Path) -> float:
    """The smallest text of a PNG `plots.save` wrote, in CSS px as a PHONE-wide page shows it."""
    with Image.open(path) as im:
        width = im.width
    return plots.text_px(path) * min(width, PHONE_COLUMN_PX) / width


# Synthetic inputs of the shapes a laptop run gives each figure (how many pigments, images, elements,
# epochs, ...); the values are arbitrary.
RNG = np.random.default_rng(0)


def _image(h: int = 64, w: int = 64) -> np.ndarray:
    return RNG.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _history(terms: list[str], schedules: list[str], epochs: int = 30) -> pd.DataFrame:
    rows = {"epoch": np.repeat(np.arange(epochs), 2)}
    for term in terms:
        for split in ("train", "val"):
            rows[f"{split}_{term}"] = np.linspace(1, 0.1, 2 * epochs) + 0.01 * RNG.random(2 * epochs)
    for name in schedules:
        rows[name] = np.geomspace(1e-3, 1e-5, 2 * epochs)
    return pd.DataFrame(rows)


def _per_image(n: int = 17) -> pd.DataFrame:
    return pd.DataFrame({m: RNG.random(n) for m in ("srgb_loss", "ms_ssim", "uiqi", "delta_e2000")})


@pytest.fixture(scope="module")
def palettes():
    from xrfnb.palette import pigments

    params = pigments.PaletteParams.from_params({"palette": "paper"})
    return {"paper": params.make_palette(), "copper": pigments.PaletteParams.from_params({"palette": "copper"}).make_palette(),
            "params": params}


def copper(p):
    from xrfnb.palette import attribution

    image, cube, _, _ = attribution.worked_example(p["copper"], p["paper"], seed=0, size=24)
    return attribution.figure(image, cube, {"copper": p["copper"], "paper": p["paper"]})


def instrument(p):
    from xrfnb.palette import pigments

    params = p["params"]
    axis, instrument = params.axis(), params.instrument()
    plaster = pigments.pigment_spectrum(None, axis, instrument, params.samples()["fresco"], "plaster")
    return plots.instrument_overview(instrument, axis, plaster)


def spectra(p):
    from xrfnb.palette import pigments

    pal, params = p["paper"], p["params"]
    axis, instrument = params.axis(), params.instrument()
    plaster = pigments.pigment_spectrum(None, axis, instrument, params.samples()["fresco"], "plaster")
    labels = [pigments.visible_lines(c, s, plaster, pal.energy) for c, s in zip(pal.compositions, pal.spectra)]
    return plots.spectra_grid(pal.energy, pal.spectra, pal.names, pal.rgb, labels, compare=pal.spectra * 0.9,
                              legend=("reference", "fresco"))


def generation(p):
    from xrfnb.palette import physics
    from xrfnb.synthetic import synth

    pal = p["paper"]
    crop = _image(32, 32)
    example = synth.synthesize(crop, pal, seed=0, counts=100)
    lines = [(f"{el} {name}", physics.line_energy(el, code)) for el, name, code in synth.SPECTRUM_LABELS]
    return plots.generation_figure(crop, example, example.cube(), pal.energy, list(pal.names), lines)


def element_maps(p):
    maps = {el: RNG.poisson(3.0, (32, 32)).astype(float) for el in ("Ca", "Fe", "Hg", "Co", "Ti", "Mn", "K", "As")}
    return plots.image_grid(maps)


class _DVE:
    n_channels, latent_dim, encoder_widths, decoder_widths, n_clusters = 512, 3, (256, 128, 64, 32), (32, 128, 256), 12


def _uvit():
    from xrfnb.models.smalluvit import SmallUViTConfig

    return SmallUViTConfig(image_size=128, patch_size=8)


def latent(p):
    z = RNG.normal(size=(3000, 3))
    names = list(p["paper"].names)
    return plots.latent_3d(z, {"dominant pigment": (RNG.integers(0, 12, 3000), names, p["paper"].rgb),
                               "latent cluster": (RNG.integers(0, 12, 3000), [f"cluster {k}" for k in range(12)])})


def reconstructions(p):
    pal = p["paper"]
    counts = RNG.poisson(pal.spectra[:4] * 400 / pal.spectra[:4].sum(1, keepdims=True))
    return plots.reconstructions(pal.energy, counts, pal.spectra[:4] / pal.spectra[:4].sum(1, keepdims=True),
                                 list(pal.names[:4]))


def budget(p):
    names = ["clustered image (the data's ceiling)", "oracle weights, per pixel", "latent decoder, per pixel",
             "spectrum decoder, per pixel", "pooled decoder", "SmallUViT (the paper's model)"]
    values = np.array([0.95, 0.9, 0.86, 0.85, 0.8, 0.77])
    return plots.budget_ladder(pd.DataFrame({"kind": ["ceiling", "oracle", "model", "model", "model", "model"],
                                             "ms_ssim": values, "ms_ssim low": values - 0.02,
                                             "ms_ssim high": values + 0.02}, index=names))


def _scan_maps():
    return {f"{el} K": RNG.poisson(5.0, (40, 40)).astype(float) for el in ("Ca", "Fe", "Cu", "Hg", "Pb", "Ti")}


#: {figure name (its file's stem in the book): a function of the palettes fixture that draws it}.
FIGURES = {
    "01_copper": copper,
    "01_instrument": instrument,
    "01_spectra": spectra,
    "01_swatches": lambda p: plots.swatches(p["paper"].names, p["paper"].rgb),
    "02_mosaic": lambda p: plots.mosaic([_image(40, 56)] * 174, [f"painting {k}" for k in range(174)]),
    "02_sizes_media": lambda p: plots.size_and_media(list(RNG.integers(200, 1500, 174)), list(RNG.integers(200, 1500, 174)),
                                                     {"oil": 120, "tempera": 30, "watercolour": 10, "fresco": 8, "other": 6}),
    "03_element_maps": element_maps,
    "03_generation": generation,
    "03_pigments_kept": lambda p: plots.bar(range(1, 7), [40, 30, 12, 5, 2, 1], "pigments kept in a cluster's mixture",
                                            "clusters", "160 test samples, threshold 0.1"),
    "04_architecture": lambda p: plots.dve_architecture(_DVE()),
    "04_latent": latent,
    "04_reconstructions": reconstructions,
    "04_training": lambda p: plots.training_curves(_history(["loss", "rec", "mmd", "kl", "clust"], ["beta", "gamma"]),
                                                   ["loss", "rec", "mmd", "kl", "clust"], ["beta", "gamma"]),
    "05_embedded_examples": lambda p: plots.pairs([_image()] * 4, [_image()] * 4, ["embedded (false colour)", "RGB"]),
    "06_architecture": lambda p: plots.smalluvit_architecture(_uvit()),
    "06_training": lambda p: plots.training_curves(_history(["loss", "ms_ssim"], ["lr"]), ["loss", "ms_ssim"], ["lr"],
                                                   "learning rate"),
    "07_counts": lambda p: plots.metric_curves(pd.DataFrame({m: RNG.random(3) for m in ("srgb_loss", "ms_ssim", "uiqi")},
                                                            index=[100, 400, 1600]),
                                               ["srgb_loss", "ms_ssim", "uiqi"], "counts per pixel"),
    "07_distributions": lambda p: plots.distributions(_per_image(), ["srgb_loss", "ms_ssim", "uiqi", "delta_e2000"]),
    "07_ood": lambda p: plots.pairs([_image(128, 128)] * 4, [_image(128, 128)] * 4, ("prediction", "original")),
    "07_patch_grid": lambda p: plots.patch_error_map({"map": RNG.random((8, 8)), "patch": 8, "ratio": 1.2}),
    "07_realdata": lambda p: plots.pairs([_image(128, 128)], [_image(128, 128)], ("recoloured from the dense cube", "RGB")),
    "07_triplets": lambda p: plots.triplets([_image()] * 3, [_image()] * 3, [_image()] * 3,
                                            [{"ms_ssim": 0.9, "uiqi": 0.4}] * 3, ["best", "typical", "worst"]),
    "07_budget": budget,
    "pipeline": lambda p: plots.pipeline_figure(),
    "beside": lambda p: plots.mosaic([_image(80, 80), _image(40, 40)],
                                     ["the painting (CC0)", "recoloured from its synthetic scan"], ncols=2, size=3.2,
                                     thumb_px=80),
    "recoloured": lambda p: plots.mosaic([_image(40, 40)], ["recoloured sample.rpl"], ncols=1, size=5),
    "elements": lambda p: plots.image_grid(_scan_maps()),
    "pigments": lambda p: plots.pigment_map(RNG.integers(-1, 5, (40, 40)),
                                            ("Red Ochre", "Cinnabar", "Cobalt Blue / Smalt", "Green Earth",
                                             "Titanium White"), p["paper"].rgb[:5]),
}
#: The same figures at the smoke run's sizes where their layout depends on them (the smoke book is drawn by
#: this code and judged by the browser test without exceptions).
SMOKE = {
    "02_mosaic-smoke": lambda p: plots.mosaic([_image(56, 40)] * 30, [f"painting {k}" for k in range(30)]),
    "02_mosaic-titled": lambda p: plots.mosaic([_image(56, 40)] * 7, ["Devidasa of Nurpur, Shiva and Parvati Playing "
                                                                       "Chaupar: Folio from a Rasamanjari Series"] * 7),
    "07_counts-smoke": lambda p: plots.metric_curves(pd.DataFrame({m: RNG.random(6) for m in ("srgb_loss", "ms_ssim")},
                                                                  index=[50, 100, 200, 400, 1000, 2000]),
                                                     ["srgb_loss", "ms_ssim"], "counts per pixel"),
    "04_reconstructions-smoke": lambda p: plots.reconstructions(p["paper"].energy, p["paper"].spectra[:3] * 400,
                                                                p["paper"].spectra[:3], list(p["paper"].names[:3])),
    "06_training-smoke": lambda p: plots.training_curves(_history(["loss", "ms_ssim"], ["lr"], epochs=2),
                                                         ["loss", "ms_ssim"], ["lr"], "learning rate"),
    "elements-constant": lambda p: plots.image_grid({"all counts": np.full((16, 16), 400.0), **_scan_maps()}),
}


@pytest.mark.parametrize("name", sorted(FIGURES) + sorted(SMOKE))
def test_a_phone_shows_every_figures_smallest_text_at_a_legible_size(name, palettes, tmp_path):
    path = plots.save({**FIGURES, **SMOKE}[name](palettes), tmp_path / f"{name}.png", show=False)
    shown = shown_text_px(path)
    assert shown >= MIN_TEXT_PX, f"{name}: smallest text {shown:.1f} px on a {PHONE} px phone"
