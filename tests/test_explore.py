"""The explorers without a browser: every control changes what is shown, bad input becomes a message."""

import json
import re

import numpy as np
import pytest

from xrfnb.synthetic import synth
from xrfnb.explore import DatacubeExplorer, LatentExplorer, TestSetExplorer, ThresholdExplorer
from xrfnb.explore.static import WIDGET_VIEW


@pytest.fixture(scope="module")
def sample(palette):
    rng = np.random.default_rng(3)
    rgb = np.zeros((24, 24, 3), np.uint8)
    rgb[:12] = (180, 40, 30)
    rgb[12:, :12] = (30, 60, 160)
    rgb[12:, 12:] = (230, 230, 220)
    rgb = np.clip(rgb + rng.integers(-8, 8, rgb.shape), 0, 255).astype(np.uint8)
    s = synth.synthesize(rgb, palette, seed=0, n_start=3, delta=1)
    return s, rgb


def spec_of(html: str) -> dict:
    """The frames a static explorer saved (its JSON script)."""
    return json.loads(re.search(r'<script type="application/json" class="xrfnb-spec">(.*?)</script>', html,
                                re.S).group(1).replace("<\\/", "</"))


def test_datacube_explorer_follows_element_and_pixel(sample, palette):
    s, rgb = sample
    ex = DatacubeExplorer(s.cube(), palette.energy, synthesis=s, pigment_names=list(palette.names),
                          pigment_rgb=palette.rgb, rgb=rgb)
    first_map, first_spectrum, first_pixel = (ex.views["map"].value, ex.views["spectrum"].value,
                                              ex.views["pixel"].value)
    ex.controls["element"].value = "Hg L3M5"
    assert ex.views["map"].value != first_map and ex.message.value == ""
    ex.controls["row"].value, ex.controls["column"].value = 2, 3
    assert ex.views["spectrum"].value != first_spectrum
    assert ex.views["pixel"].value != first_pixel and "pixel (2, 3)" in ex.views["pixel"].value
    ex.controls["pixel"].value = "20, 20"
    assert (ex.controls["row"].value, ex.controls["column"].value) == (20, 20)


@pytest.mark.parametrize("typed, says", [("Xx", "not an element symbol"), ("H", "has no"),
                                         ("Fe QQ9", "not an IUPAC line")])
def test_datacube_explorer_says_what_is_wrong_with_an_element(sample, palette, typed, says):
    s, _ = sample
    ex = DatacubeExplorer(s.cube(), palette.energy)
    shown = ex.views["map"].value
    ex.controls["element"].value = typed
    assert says in ex.message.value and ex.views["map"].value == shown


def test_datacube_explorer_says_a_pixel_is_outside_the_image(sample, palette):
    s, _ = sample
    ex = DatacubeExplorer(s.cube(), palette.energy)
    ex.controls["pixel"].value = "30, 5"
    assert "outside the 24 x 24 image" in ex.message.value
    ex.controls["pixel"].value = "five"
    assert "row, column" in ex.message.value
    ex.controls["pixel"].value = "3, 4"
    assert ex.message.value == "" and (ex.controls["row"].value, ex.controls["column"].value) == (3, 4)


def test_datacube_static_page_holds_every_offered_map(sample, palette):
    s, rgb = sample
    ex = DatacubeExplorer(s.cube(), palette.energy, synthesis=s, pigment_names=list(palette.names),
                          pigment_rgb=palette.rgb, rgb=rgb)
    spec = spec_of(ex.static_html())
    maps = spec["slots"][0]["frames"]
    assert len(maps) == len(ex.offered) and len(set(maps.values())) > 1
    assert len(spec["slots"][2]["frames"]) == len(s.cluster_rgb)


def test_threshold_explorer_rematches_the_clusters(sample, palette):
    s, _ = sample
    ex = ThresholdExplorer(s, palette, threshold=0.75)
    table, nats, summary = ex.views["pigments kept"].value, ex.views["information per pixel"].value, ex.summary.value
    ex.controls["threshold"].value = 0.3
    assert ex.views["pigments kept"].value != table
    assert ex.views["information per pixel"].value != nats and ex.summary.value != summary
    assert "threshold 0.30" in ex.summary.value
    spec = spec_of(ex.static_html())
    assert len(set(spec["slots"][0]["frames"].values())) > 1  # the summaries differ between steps


def test_latent_explorer_turns_and_recolours():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 3))
    labels = rng.integers(0, 3, 300)
    ex = LatentExplorer(z, {"pigment": (labels, ["a", "b", "c"], np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]])),
                            "cluster": (labels[::-1].copy(), ["0", "1", "2"], np.array([[0.1] * 3, [0.5] * 3, [0.9] * 3]))})
    before = ex.views["latent"].value
    ex.controls["azimuth"].value = 40
    turned = ex.views["latent"].value
    assert turned != before
    ex.controls["colour by"].value = "cluster"
    assert ex.views["latent"].value != turned and "#ff0000" not in ex.views["legend"].value
    spec = spec_of(ex.static_html())
    assert len(spec["points"]) == 900 and spec["sets"][0]["colours"][0] == "#ff0000"


@pytest.fixture(scope="module")
def test_set():
    rng = np.random.default_rng(1)
    targets = rng.random((3, 3, 32, 32)).astype(np.float32)
    predicted = {"good": np.clip(targets + rng.normal(0, 0.02, targets.shape), 0, 1).astype(np.float32),
                 "grey": (1 - targets).mean(1, keepdims=True).repeat(3, 1)}
    embedded = rng.normal(size=(3, 3, 32, 32)).astype(np.float32)
    return embedded, targets, predicted


def test_test_set_explorer_follows_image_and_model(test_set):
    embedded, targets, predicted = test_set
    ex = TestSetExplorer(embedded, targets, np.array([5, 8, 9]), predicted, np.full(3, -2.0), np.full(3, 2.0))
    shown = {k: v.value for k, v in ex.views.items()}
    title = ex.title.value
    ex.controls["model"].value = "grey"
    assert ex.views["prediction"].value != shown["prediction"] and ex.views["error map"].value != shown["error map"]
    assert ex.views["ground truth"].value == shown["ground truth"] and ex.title.value != title
    assert re.search(r"grey: MS-SSIM -?\d\.\d{3}, UIQI -?\d\.\d{3}", ex.title.value)
    ex.controls["image"].value = 2
    assert ex.views["ground truth"].value != shown["ground truth"]


def test_test_set_static_page_holds_every_model_for_its_images(test_set):
    embedded, targets, predicted = test_set
    ex = TestSetExplorer(embedded, targets, np.array([5, 8, 9]), predicted, np.full(3, -2.0), np.full(3, 2.0),
                         static_images=2)
    spec = spec_of(ex.static_html())
    prediction = spec["slots"][2]["frames"]
    assert sorted(prediction) == ["0|0", "0|1", "1|0", "1|1"] and len(set(prediction.values())) == 4


def test_show_offers_the_widget_and_its_static_fallback(test_set, monkeypatch):
    embedded, targets, predicted = test_set
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    TestSetExplorer(embedded, targets, np.arange(3), predicted, np.full(3, -2.0), np.full(3, 2.0)).show()
    assert WIDGET_VIEW in shown[0] and "<script>" in shown[0]["text/html"]
    assert "http" not in shown[0]["text/html"]  # nothing loaded from elsewhere


@pytest.mark.parametrize("same_budget", [False, True])
def test_the_test_set_explorer_offers_the_headline_model_and_names_the_retrain_by_its_budget(tmp_path, monkeypatch,
                                                                                            same_budget):
    """Chapter 6's SmallUViT comes first under its own name; the paper's architecture retrained for the
    comparison is named by its epochs, never "SmallUViT (paper)" (issue 37)."""
    from types import SimpleNamespace

    from xrfnb.evaluation import compared
    from xrfnb.explore import testset

    x = np.zeros((2, 3, 8, 8), np.float32)
    chapter6 = object()
    monkeypatch.setattr("xrfnb.evaluation.evaluate.test_split", lambda emb: (x, None, np.arange(2)))
    monkeypatch.setattr("xrfnb.models.recolour.train", lambda *a, **k: pytest.fail("a compared model loaded again"))
    monkeypatch.setattr("xrfnb.models.recolour.predict",
                        lambda module, xs, device="cpu": np.full(xs.shape, 1.0 if module is chapter6 else 0.5))
    paper_folder = tmp_path / ("smalluvit" if same_budget else "ablations/smalluvit")
    scored = {name: np.zeros(x.shape) for name in (compared.PAPER, compared.UNET, compared.POOLED, compared.LOOKUP)}
    ev = SimpleNamespace(emb=None, device="cpu", module=chapter6, store=SimpleNamespace(path=tmp_path / "dataset.h5"),
                         runs={compared.PAPER: (None, paper_folder),
                               compared.UNET: (None, tmp_path / "ablations/unet")},
                         decoders={compared.POOLED: object()}, predicted=scored)
    shown = testset.predictions(ev, 5)  # the comparison's predictions, as they were scored
    assert shown[compared.UNET] is scored[compared.UNET] and shown[compared.LOOKUP] is scored[compared.LOOKUP]
    assert compared.POOLED in shown  # chapter 7's pooled decoder is offered beside the trained models
    assert list(shown)[0] == testset.HEADLINE and shown[testset.HEADLINE].mean() == 1.0
    assert compared.PAPER not in shown
    assert (compared.at_budget(5) in shown) is not same_budget
    if not same_budget:
        assert compared.at_budget(5) == "SmallUViT (paper's architecture, 5 epochs)"
        assert shown[compared.at_budget(5)].mean() == 0.0
