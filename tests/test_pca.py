"""The embedding as a parameter (issue 34, item 4): `dve_latent` and a PCA encoder through chapters 4 to 8."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_dve import spectra

from xrfnb import export
from xrfnb.config import ParameterError
from xrfnb.embedding import adapt, dve, dve_compare, embedded, pca
from xrfnb.embedding.dve_losses import CLUSTERINGS
from xrfnb.models import pooled, recolour, smalluvit
from xrfnb.pipeline import budget

TINY_UVIT = dict(dim=16, heads=1, dim_head=8, depth_in=1, depth_mid=1, depth_out=1, drop_path=0.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tiny dataset store: 8 samples of 16 px from 6 blocky paintings, 512 channels."""
    from PIL import Image
    from test_dataset import painting

    from xrfnb.palette import pigments
    from xrfnb.synthetic import dataset

    folder = tmp_path_factory.mktemp("pca_store")
    rng = np.random.default_rng(0)
    (folder / "seeds").mkdir()
    for i in range(6):
        Image.fromarray(painting(rng)).save(folder / "seeds" / f"p{i}.png")
    dataset.generate(folder / "seeds", folder / "dataset.h5", pigments.paper_palette(),
                     dataset.GenerateConfig(samples=8, size=16), progress=False)
    return dataset.Store(folder / "dataset.h5")


def test_the_pca_encoder_is_scikit_learns_pca_of_the_dves_input():
    from sklearn.decomposition import PCA

    counts, which = spectra()
    model = pca.fit(counts, pca.PCAConfig(n_channels=64, latent_dim=4, n_clusters=3))
    x = dve.normalise(torch.as_tensor(counts)).numpy()
    np.testing.assert_allclose(dve.encode(model, counts), PCA(4, random_state=0).fit(x).transform(x), atol=1e-5)
    assert model.kind == "pca" and model.cfg.latent_dim == 4
    labels = model.assign(torch.as_tensor(dve.encode(model, counts))).numpy()
    # the three 'pigments' are three clusters of the latent
    assert all(len(np.unique(labels[which == k])) == 1 for k in range(3)) and len(np.unique(labels)) == 3


def test_a_spectrum_goes_through_a_full_rank_pca_and_comes_back():
    counts, _ = spectra()
    model = pca.fit(counts, pca.PCAConfig(n_channels=64, latent_dim=64, n_clusters=3))
    back = dve.reconstruct(model, counts[:20])
    np.testing.assert_allclose(back, counts[:20] / counts[:20].sum(1, keepdims=True), atol=1e-5)


def test_the_stages_pca_is_written_read_back_and_reused(tmp_path, monkeypatch):
    counts, _ = spectra()
    folder = tmp_path / "dve"
    folder.mkdir()
    (folder / "finished.key").write_text("a DVE's")  # a DVE trained here before
    config = pca.PCAConfig(n_channels=64, latent_dim=5, n_clusters=3)
    fitted = pca.fit_stage(counts, config, folder, "data")
    assert not (folder / "finished.key").exists()  # the DVE's file is gone: a later DVE trains again
    loaded = dve.load(folder / "dve.ckpt", n_channels=64)
    assert isinstance(loaded, pca.PCAEncoder) and loaded.cfg == config
    np.testing.assert_array_equal(dve.encode(loaded, counts), dve.encode(fitted, counts))
    torch.testing.assert_close(loaded.centroids, fitted.centroids)
    monkeypatch.setattr(pca, "fit", lambda *a: pytest.fail("fitted again"))
    again = pca.fit_stage(counts, config, folder, "data")
    np.testing.assert_array_equal(dve.encode(again, counts), dve.encode(fitted, counts))
    with pytest.raises(ValueError, match="DVE expects 64 channels, the data has 512"):
        dve.load(folder / "dve.ckpt", n_channels=512)


def test_more_components_than_the_spectra_allow_are_refused_in_one_line():
    counts, _ = spectra(n=20)
    with pytest.raises(ValueError, match=r"at most 20 components, 30 asked \(dve_latent\)") as err:
        pca.fit(counts, pca.PCAConfig(n_channels=64, latent_dim=30, n_clusters=3))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("changes, message", [
    ({"embedding": "umap"}, "04_train_dve: parameter embedding='umap' is not one of dve, pca"),
    ({"dve_latent": 0}, "04_train_dve: parameter dve_latent must be positive, got 0"),
])
def test_a_bad_embedding_or_latent_size_is_refused_in_one_line(changes, message):
    with pytest.raises(ParameterError, match=message) as err:
        dve.DVEParams(**changes)
    assert "\n" not in str(err.value)


def test_the_defaults_are_the_papers_dve_of_three_and_both_parameters_are_keyed():
    params = dve.DVEParams()
    assert (params.embedding, params.dve_latent) == ("dve", 3)
    assert params.model_config(512).latent_dim == dve.DVEConfig().latent_dim == 3  # the DVE's settings as before
    assert {"embedding", "dve_latent"} <= set(params.keyed())
    up = {"03_synthetic_maxrf": "k"}
    keys = {params.key(up), dve.DVEParams(embedding="pca").key(up), dve.DVEParams(dve_latent=8).key(up)}
    assert len(keys) == 3


def test_a_dve_of_five_latents_trains_and_embeds_five_channels(tmp_path, store):
    params = dve.DVEParams(dve_latent=5, dve_clusters=3, dve_warmup_epochs=0, dve_ramp_epochs=1)
    found = dve.training_spectra(store, 400, seed=0)
    model, _ = dve.train(found["train"].counts, found["val"].counts, params.model_config(512), 1, 64,
                         tmp_path / "dve")
    assert model.centroids.shape == (3, 5)
    assert dve.embed_cube(model, store.cube(0)).shape == (5, 16, 16)
    embedded.embed(model, store, tmp_path / "embedded.h5", "k", progress=False)
    emb = embedded.EmbeddedStore(tmp_path / "embedded.h5")
    assert emb.shape == (8, 5, 16, 16)
    lo, hi = emb.percentiles()
    assert lo.shape == hi.shape == (5,)
    picture = embedded.false_colour(emb.embedded(0), lo, hi)
    assert picture.shape == (16, 16, 3) and 0 <= picture.min() and picture.max() <= 1
    assert "1 to 3 of 5" in embedded.false_colour_title(5)
    assert embedded.false_colour_title(3) == "embedded (false colour)"


def test_a_sharded_pca_embedding_merges_into_its_channels(tmp_path, store):
    found = dve.training_spectra(store, 400, seed=0)
    model = pca.fit(found["train"].counts, pca.PCAConfig(latent_dim=8, n_clusters=4))
    for rank in range(2):
        embedded.embed(model, store, tmp_path / "two.h5", "k", progress=False, shard=(rank, 2))
    embedded.merge_embedded(store, tmp_path / "two.h5", "k", world=2)
    emb = embedded.EmbeddedStore(tmp_path / "two.h5")
    assert emb.shape == (8, 8, 16, 16)
    np.testing.assert_allclose(emb.embedded(3), dve.embed_cube(model, store.cube(3)).astype(np.float32))


def test_three_latent_coordinates_are_shown_and_the_caption_says_which():
    z = np.arange(12.0).reshape(2, 6)
    shown, note = embedded.shown_latent(z)
    np.testing.assert_array_equal(shown, z[:, :3])
    assert note == "latent coordinates 1 to 3 of 6"
    assert embedded.shown_latent(z[:, :3])[1] == ""
    padded, note = embedded.shown_latent(z[:, :2])
    np.testing.assert_array_equal(padded, np.c_[z[:, :2], np.zeros(2)])
    assert note == "2 latent coordinates, blue zero"
    image = np.ones((5, 4, 4))
    assert embedded.false_colour(image, np.zeros(5), 2 * np.ones(5)).shape == (4, 4, 3)


def test_smalluvit_its_baselines_and_the_pooled_decoder_take_five_channels(tmp_path):
    config = recolour.TrainParams().model_config(16, 5)
    assert config.model.in_channels == 5
    x = torch.randn(2, 5, 16, 16)
    tiny = smalluvit.SmallUViTConfig(image_size=16, patch_size=8, in_channels=5, **TINY_UVIT)
    for arch in recolour.ARCHITECTURES:
        module = recolour.Recolouring(recolour.RecolourConfig(model=tiny, arch=arch))
        assert module(x).shape == (2, 3, 16, 16), arch
    with pytest.raises(ValueError, match=r"SmallUViT expects \(N, 5, 16, 16\) input"):
        smalluvit.SmallUViT(tiny)(torch.randn(2, 3, 16, 16))
    rng = np.random.default_rng(0)
    images, rgb = rng.normal(size=(3, 5, 8, 8)).astype(np.float32), rng.integers(0, 256, (3, 8, 8, 3), np.uint8)
    cfg = pooled.PooledConfig(in_channels=5, weights=(0.3,), steps=10, batch_pixels=32)
    decoder = pooled.train(images, rgb, cfg, tmp_path / "pooled")
    assert decoder(torch.from_numpy(images)).shape == (3, 3, 8, 8)
    with pytest.raises(ValueError, match="takes 3 input channels, the embedded images have 5") as err:
        pooled.train(images, rgb, pooled.PooledConfig(steps=10), tmp_path / "other")
    assert "\n" not in str(err.value)


def test_a_model_folder_with_a_pca_exports_loads_recolours_and_adapts(tmp_path, palette):
    from xrfnb.scans import realdata

    rng = np.random.default_rng(0)
    mix = rng.dirichlet(np.ones(12), 400) ** 3
    counts = np.stack([rng.multinomial(400, m / m.sum()) for m in (mix / mix.sum(1, keepdims=True)) @ palette.spectra])
    encoder = pca.fit(counts, pca.PCAConfig(n_channels=len(palette.energy), latent_dim=4, n_clusters=3))
    tiny = smalluvit.SmallUViTConfig(image_size=16, patch_size=8, in_channels=4, **TINY_UVIT)
    module = recolour.Recolouring(recolour.RecolourConfig(model=tiny)).eval()
    folder = export.write_models(tmp_path / "model", palette, encoder, module, palette.measured_with(), 400.0, "tiny")
    assert json.loads((folder / "model.json").read_text())["embedding"] == "pca"
    _, loaded, loaded_module, *_ = export.read(folder)
    assert isinstance(loaded, pca.PCAEncoder)
    np.testing.assert_array_equal(dve.encode(loaded, counts), dve.encode(encoder, counts))
    torch.testing.assert_close(loaded.centroids, encoder.centroids)
    cube = counts[:20 * 20].reshape(20, 20, -1).astype(np.float64)
    rgb = realdata.recolour_counts(cube, loaded, loaded_module)  # tiles of 16 px over a 20 px scan
    np.testing.assert_array_equal(rgb, realdata.recolour_counts(cube, encoder, module))
    assert rgb.shape == (20, 20, 3)
    shifted = counts[:, ::-1].copy()  # a scan unlike the training spectra
    result = adapt.adapt(encoder, counts, shifted, adapt.AdaptConfig(steps=5, batch=32))
    assert isinstance(result.model, pca.PCAEncoder)
    assert not torch.equal(result.model.encoder.weight, encoder.encoder.weight)  # the projection was tuned
    assert torch.equal(result.model.mean, encoder.mean) and np.isfinite(result.mmd_after)
    export.write_models(tmp_path / "adapted", palette, result.model, module, palette.measured_with(), 400.0, "tiny")
    np.testing.assert_array_equal(dve.encode(export.read(tmp_path / "adapted")[1], counts),
                                  dve.encode(result.model, counts))


def test_a_model_folder_without_an_embedding_holds_a_dve(tmp_path, palette):
    model = dve.DVE(dve.DVEConfig(n_channels=len(palette.energy), encoder_widths=(32, 16, 16, 8),
                                  decoder_widths=(8, 16, 32), n_clusters=3)).eval()
    module = recolour.Recolouring(recolour.RecolourConfig(
        model=smalluvit.SmallUViTConfig(image_size=16, patch_size=8, **TINY_UVIT))).eval()
    folder = export.write_models(tmp_path / "model", palette, model, module, palette.measured_with(), 400.0, "old")
    meta = json.loads((folder / "model.json").read_text())
    assert meta.pop("embedding") == "dve"
    (folder / "model.json").write_text(json.dumps(meta))  # as the folders published before PCA were written
    loaded = export.read(folder)[1]
    assert isinstance(loaded, dve.DVE)
    counts = np.random.default_rng(1).poisson(2, (30, len(palette.energy))) + 1
    np.testing.assert_array_equal(dve.encode(loaded, counts), dve.encode(model, counts))


def test_the_comparison_names_its_pca_baseline_by_its_latent_size():
    rows = [{"variant": v, "seed": 0, "lookup_ms_ssim": m, "knn_accuracy_heldout_pixels": 0.5,
             "knn_accuracy_test_paintings": 0.4, "latent_silhouette": 0.3, "training_seconds": 1.0,
             "undefined_batches": 0} for v, m in (("dcn", 0.5), (dve_compare.pca_name(8), 0.9))]
    summary = dve_compare.summarise(pd.DataFrame(rows))
    assert dve_compare.best_downstream(summary) == "dcn"
    assert "0.9000 for the PCA-8 baseline" in dve_compare.verdict(summary, "dcn", {"train": 2, "test": 2})


def test_the_budget_counts_no_dve_training_of_a_pca_stage_of_its_own():
    compared = {"dve_compare_seeds": [0, 1], "seed": 0}
    n = len(CLUSTERINGS)
    assert budget.dve_trainings(compared) == 2 * n  # the stage's own training is one of the comparison's
    assert budget.dve_trainings({**compared, "embedding": "pca"}) == 2 * n  # its own is a PCA's fit
    assert budget.dve_trainings({"dve_compare_seeds": [1], "seed": 0}) == 1 + n


def test_the_stage_fits_a_pca_in_the_dves_place_and_chapter_5_embeds_with_it(tmp_path, store):
    import shutil

    from xrfnb.config import record_path
    from xrfnb.io import write_json

    for name in ("dataset.h5", "dataset.card.json"):
        shutil.copy(store.path.parent / name, tmp_path / name)
    write_json(record_path(tmp_path, "03_synthetic_maxrf"), {"key": "the dataset's"})
    params = dve.DVEParams(embedding="pca", dve_latent=8, dve_spectra=400, dve_clusters=3, dve_epochs=1,
                           dve_batch_size=64, dve_warmup_epochs=0, dve_ramp_epochs=1)
    stage = dve.run_stage(tmp_path, params)
    assert isinstance(stage.model, pca.PCAEncoder) and stage.metrics_csv is None and params.done(tmp_path)
    assert stage.config.latent_dim == 8  # the DVEs chapter 4's comparison trains have the same latent size
    embedded.embed_stage(tmp_path, embedded.EmbedParams())
    assert embedded.EmbeddedStore(tmp_path / "embedded.h5").shape == (8, 8, 16, 16)
    again = dve.run_stage(tmp_path, dataclasses.replace(params, embedding="dve"))  # the DVE trains, never reads the PCA
    assert isinstance(again.model, dve.DVE) and again.metrics_csv is not None
    assert isinstance(dve.load(tmp_path / "dve" / "dve.ckpt"), dve.DVE)
    assert not params.done(tmp_path)  # its record is the DVE's now
