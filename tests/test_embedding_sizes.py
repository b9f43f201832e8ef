"""The budget's decoders at other embedding sizes (issue 34, item 4): nested PCA rows, one set of training
images for every embedding, the table's layout and the parameters' checks."""

import numpy as np
import pytest
import torch

from test_colour_budget import budget_run  # noqa: F401  (the fixture)
from test_dataset import seed_folder  # noqa: F401  (budget_run's fixture)
from xrfnb import result_files
from xrfnb.config import ParameterError
from xrfnb.embedding import dve, pca
from xrfnb.evaluation import colour_budget, embedding_sizes
from xrfnb.evaluation.evaluate import EvaluateParams
from xrfnb.models import pooled
from xrfnb.synthetic import dataset, information

TINY = dict(images=5, spectra=6000, steps=3, weights=(0.1,), seed=0)


def test_a_pca_row_is_the_first_components_of_one_fit_at_the_largest_size(budget_run):  # noqa: F811
    store, emb = budget_run
    cfg = embedding_sizes.SizesConfig(latents=(5, 2), **TINY)
    assert cfg.latents == (2, 5)
    model = embedding_sizes.fit_pca(store, cfg)
    assert model.cfg.latent_dim == 5
    rows = embedding_sizes.embeddings(store, emb, cfg, model, "DVE, 3-D (the paper's)")
    assert list(rows) == ["DVE, 3-D (the paper's)", "PCA-2", "PCA-5"]
    for part in (0, 1):  # training and test latents
        np.testing.assert_array_equal(rows["PCA-2"][part], rows["PCA-5"][part][:, :2])
    # nested: a PCA fitted at two components on the same spectra is the same projection (up to each sign)
    counts = dataset.sample_spectra(store, "train", cfg.spectra, cfg.seed).counts
    own = pca.fit(counts, pca.PCAConfig(len(store.energy), 2, 1, cfg.seed))
    first = int(embedding_sizes.training_images(emb, cfg.images)[0])
    alone = dve.embed_cube(own, store.synthesis(first).cube()).astype(np.float32)
    sliced = rows["PCA-2"][0][0].astype(np.float32)
    signs = np.sign((alone * sliced).sum((1, 2)))[:, None, None]
    np.testing.assert_allclose(alone, signs * sliced, atol=2e-2 * np.abs(sliced).max())


def test_every_embedding_trains_on_the_same_first_training_images(budget_run, monkeypatch):  # noqa: F811
    store, emb = budget_run
    cfg = embedding_sizes.SizesConfig(latents=(2, 4), **TINY)
    seen = []
    real = pooled.train

    def recording(train_x, train_rgb, pc, out_dir, data_key=""):
        seen.append((np.array(train_x), np.array(train_rgb), pc))
        return real(train_x, train_rgb, pc, out_dir, data_key)

    monkeypatch.setattr(pooled, "train", recording)
    table, per_image = embedding_sizes.measure(store, emb, cfg, "DVE, 3-D (the paper's)")
    first = embedding_sizes.training_images(emb, cfg.images)
    np.testing.assert_array_equal(first, emb.indices("train")[:5])
    rgb = np.stack([emb.rgb(int(i)) for i in first])
    assert len(seen) == 3 * len(table)  # perfect pooling, the per-pixel MLP and the pooled decoder of each
    for train_x, train_rgb, pc in seen:
        np.testing.assert_array_equal(train_rgb, rgb)
        assert len(train_x) == len(first) and pc.steps == cfg.steps and pc.seed == cfg.seed
    assert [pc.weights for _, _, pc in seen] == [(), (), (0.1,)] * len(table)
    own = np.stack([emb.embedded(int(i)) for i in first])
    np.testing.assert_array_equal(seen[1][0], own)  # the per-pixel MLP: the latent itself
    np.testing.assert_allclose(seen[0][0], embedding_sizes.segment_means(own, [store.synthesis(int(i)) for i in first]))
    assert [x.shape[1] for x, _, _ in seen] == [3, 3, 3, 2, 2, 2, 4, 4, 4]
    model = embedding_sizes.fit_pca(store, cfg)  # the PCA rows: those images' cubes, projected
    np.testing.assert_array_equal(seen[-1][0], embedding_sizes.projected(store, model, first))


def test_the_table_holds_every_model_of_every_embedding_and_the_oracle_is_the_budgets(budget_run, tmp_path):  # noqa: F811
    store, emb = budget_run
    cfg = embedding_sizes.SizesConfig(latents=(2, 4), **TINY)
    found = embedding_sizes.run(store, emb, cfg, "dve", tmp_path / "results")
    name = "DVE, 3-D (the paper's)"
    assert list(found.table.index) == [name, "PCA-2", "PCA-4"]
    assert list(found.table.columns) == list(embedding_sizes.COLUMNS)
    assert list(found.table.columns[1:7]) == ["latent oracle ms_ssim", "latent oracle ms_ssim low",
                                              "latent oracle ms_ssim high", "latent oracle srgb_loss",
                                              "latent oracle srgb_loss low", "latent oracle srgb_loss high"]
    assert list(found.table["dimensions"]) == [3, 2, 4]
    for model in embedding_sizes.MODELS:
        assert (found.table[f"{model} ms_ssim low"] <= found.table[f"{model} ms_ssim"] + 1e-9).all()
        assert (found.table[f"{model} ms_ssim"] <= found.table[f"{model} ms_ssim high"] + 1e-9).all()
    test = emb.indices("test")  # the run's latent row's oracle is the budget's latent-oracle rung
    paint = colour_budget.ORACLES[colour_budget.LATENT_ORACLE]
    pred = np.stack([paint(store.synthesis(int(i)), None, emb.embedded(int(i))).transpose(2, 0, 1) for i in test])
    target = torch.from_numpy(np.stack([store.rgb(int(i)) for i in test])).permute(0, 3, 1, 2).float() / 255.0
    budget = colour_budget.scores(pred.astype(np.float32), target)["ms_ssim"].mean()
    assert found.table.loc[name, "latent oracle ms_ssim"] == pytest.approx(budget, abs=1e-6)
    assert found.gains["size"]["from"] == "PCA-2" and found.gains["size"]["to"] == "PCA-4"
    assert found.gains["versus_run"]["pca"] == "PCA-2"  # no PCA of the run's size: the smallest
    assert "from PCA-2 to PCA-4" in found.sentence and found.seconds > 0
    table, saved = result_files.read_embedding_sizes(tmp_path / "results")
    assert list(table.index) == list(found.table.index) and saved["sentence"] == found.sentence
    assert saved["seconds"] == pytest.approx(found.seconds) and saved["gains"]["size"]["to"] == "PCA-4"


@pytest.mark.parametrize("latents, message", [
    ([], "07_evaluate: budget_pca_latents needs at least one PCA size, got an empty list"),
    ([3, 0], "07_evaluate: budget_pca_latents: a PCA has at least one component, got \\[3, 0\\]"),
    ([3, 8, 3], "07_evaluate: budget_pca_latents lists a size twice"),
])
def test_a_bad_list_of_pca_sizes_is_refused_in_one_line(latents, message):
    with pytest.raises(ParameterError, match=message) as err:
        EvaluateParams(budget_pca_latents=latents)
    assert "\n" not in str(err.value)
    with pytest.raises(ParameterError, match="budget_embed_images must be positive"):
        EvaluateParams(budget_embed_images=0)
    assert EvaluateParams(budget_pca_latents=[16, 3]).budget_pca_latents == [16, 3]


def test_more_components_than_channels_are_refused_in_one_line(budget_run):  # noqa: F811
    store, _ = budget_run
    channels = len(store.energy)
    cfg = embedding_sizes.SizesConfig(latents=(3, channels + 1), **TINY)
    with pytest.raises(ValueError, match=f"spectra of {channels} channels have at most {channels} principal "
                                         f"components, {channels + 1} asked") as err:
        embedding_sizes.fit_pca(store, cfg)
    assert "\n" not in str(err.value)


def test_perfect_pooling_gives_every_pixel_its_true_segments_mean(budget_run):  # noqa: F811
    store, emb = budget_run
    i = int(emb.indices("test")[0])
    s = store.synthesis(i)
    latent = emb.embedded(i)[None].astype(np.float32)
    means = embedding_sizes.segment_means(latent, [s])[0]
    segment = information.first_alike(s.mixtures)[s.labels]
    for c in np.unique(segment):
        at = segment == c
        np.testing.assert_allclose(means[:, at], latent[0][:, at].mean(1)[:, None] * np.ones(at.sum()), rtol=1e-5,
                                   atol=1e-5)
    assert len(np.unique(means.reshape(len(means), -1), axis=1)) <= len(np.unique(segment)) < s.labels.size


def test_the_largest_pcas_pooled_decoder_is_kept_with_its_encoder_and_predicts_as_measured(budget_run, tmp_path):  # noqa: F811
    store, emb = budget_run
    cfg = embedding_sizes.SizesConfig(latents=(2, 4), **TINY)
    embedding_sizes.run(store, emb, cfg, "dve", tmp_path / "results", keep=tmp_path / "kept")
    encoder = dve.load(tmp_path / "kept" / "encoder.ckpt", len(store.energy))
    decoder = pooled.load(tmp_path / "kept" / "pooled.pt")
    assert encoder.cfg.latent_dim == 4 == decoder.cfg.in_channels and decoder.cfg.weights == cfg.weights
    full = embedding_sizes.fit_pca(store, cfg)
    i = int(emb.indices("test")[0])
    cube = store.synthesis(i).cube()
    np.testing.assert_array_equal(dve.embed_cube(encoder, cube), dve.embed_cube(full, cube)[:4])
    sliced = embedding_sizes.first_components(full, 2)  # a smaller size is the first components
    np.testing.assert_array_equal(dve.embed_cube(sliced, cube), dve.embed_cube(full, cube)[:2])
