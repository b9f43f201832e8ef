"""The Deep Variational Embedding: shapes, losses, centroid updates, determinism, resume, bad input."""

import numpy as np
import pandas as pd
import pytest
import torch

from xrfnb.embedding import dve


def spectra(n=600, e=64, seed=0):
    """Counts from three well-separated 'pigments' (peaks at different channels)."""
    rng = np.random.default_rng(seed)
    base = np.full((3, e), 0.2)
    for k, c in enumerate((10, 30, 50)):
        base[k, c - 1:c + 2] += 20
    base /= base.sum(1, keepdims=True)
    which = rng.integers(0, 3, n)
    return np.stack([rng.multinomial(400, base[w]) for w in which]).astype(np.int16), which


def config(**kw):
    return dve.DVEConfig(**{"n_channels": 64, "encoder_widths": (32, 16, 16, 8), "decoder_widths": (8, 16, 32),
                            "n_clusters": 3, "warmup_epochs": 1, "ramp_epochs": 1, "lr": 3e-3, **kw})


def fit(tmp_path, epochs=3, name="run", **kw):
    counts, _ = spectra()
    model, csv = dve.train(counts[:480], counts[480:], config(**kw), epochs, 64, tmp_path / name, accelerator="cpu")
    return model, pd.read_csv(csv)


def test_shapes_and_dtypes():
    model = dve.DVE(config())
    counts = torch.as_tensor(spectra(10)[0])
    mu, logvar = model.encoder(dve.normalise(counts))
    assert mu.shape == logvar.shape == (10, 3)
    log_p = model.decoder(mu)
    assert log_p.shape == (10, 64)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(10))
    cube = np.random.default_rng(0).integers(0, 20, (5, 7, 64)).astype(np.int16)
    image = dve.embed_cube(model, cube)
    assert image.shape == (3, 5, 7) and image.dtype == np.float16


def test_encoder_is_self_normalising():
    model = dve.DVE(config(dropout=0.1))
    assert any(isinstance(m, torch.nn.SELU) for m in model.encoder.modules())
    assert any(isinstance(m, torch.nn.AlphaDropout) for m in model.encoder.modules())
    first = model.encoder.body[0]
    assert first.weight.std().item() == pytest.approx(64 ** -0.5, rel=0.1)  # LeCun normal


def test_loss_terms_are_finite_and_training_lowers_the_loss(tmp_path):
    _, metrics = fit(tmp_path, epochs=4, warmup_epochs=10)  # constant weights: no clustering, MMD at full
    per_epoch = metrics.groupby("epoch").mean(numeric_only=True)
    for term in ("loss", "rec", "mmd", "kl", "clust"):
        assert np.isfinite(per_epoch[f"train_{term}"]).all()
    assert per_epoch["train_loss"].iloc[-1] < per_epoch["train_loss"].iloc[0]


def test_mmd_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2000, 3, generator=g), torch.randn(2000, 3, generator=g)
    assert abs(dve.mmd(a, b).item()) < 0.01
    assert dve.mmd(a + 1.5, b).item() > 0.1


def test_centroid_update_equals_the_per_point_rule():
    g = torch.Generator().manual_seed(1)
    centroids, counts = torch.randn(4, 3, generator=g), torch.tensor([1.0, 3.0, 2.0, 5.0])
    z, assigned = torch.randn(50, 3, generator=g), torch.randint(0, 4, (50,), generator=g)
    seq_c, seq_n = centroids.clone(), counts.clone()
    for zi, k in zip(z, assigned):
        seq_n[k] += 1
        seq_c[k] -= (seq_c[k] - zi) / seq_n[k]
    dve.update_centroids(centroids, counts, z, assigned)
    torch.testing.assert_close(centroids, seq_c)
    torch.testing.assert_close(counts, seq_n)


def test_schedule_warms_up_then_ramps():
    cfg = dve.DVEConfig(beta=2.0, gamma=1.0, warmup_epochs=2, ramp_epochs=2)
    assert [cfg.weights(e)[1] for e in range(5)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert [cfg.weights(e)[0] for e in range(3)] == [1.0, 2.0, 2.0]


def test_training_is_deterministic_and_clusters_are_initialised(tmp_path):
    a, _ = fit(tmp_path, name="a")
    b, _ = fit(tmp_path, name="b")
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb)
    assert bool(a.centroids_ready) and a.centroid_counts.sum() > 3


def test_interrupted_training_resumes_to_the_same_model(tmp_path):
    whole, _ = fit(tmp_path, epochs=4, name="whole")
    fit(tmp_path, epochs=2, name="cut")  # as if stopped after two epochs
    resumed, metrics = fit(tmp_path, epochs=4, name="cut")
    assert list(metrics["epoch"]) == [0, 1, 2, 3]  # the epochs before the interruption are kept
    for pa, pb in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(pa, pb)


@pytest.mark.parametrize("first, clustering", [("dcn", "silhouette-grad"), ("silhouette-grad", "dcn"),
                                               ("silhouette-grad", "silhouette")])
def test_a_variant_starts_from_another_trainings_warm_up_and_ends_as_if_trained_alone(tmp_path, first, clustering):
    """Chapter 4's comparison: variants of the clustering loss share the warm-up (no clustering term), so
    one that starts from another training's warm-up ends with the weights it reaches when trained alone."""
    _, source_metrics = fit(tmp_path, epochs=4, name="first", warmup_epochs=2, clustering=first)
    alone, alone_metrics = fit(tmp_path, epochs=4, name="alone", warmup_epochs=2, clustering=clustering)
    counts, _ = spectra()
    shared, csv = dve.train(counts[:480], counts[480:], config(warmup_epochs=2, clustering=clustering), 4, 64,
                            tmp_path / "shared", warmup_from=tmp_path / "first")
    for name, value in alone.state_dict().items():
        assert torch.equal(value, shared.state_dict()[name]), name
    metrics = pd.read_csv(csv)
    assert list(metrics["epoch"]) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(metrics.iloc[:2][source_metrics.columns], source_metrics.iloc[:2])  # warm-up's rows
    assert metrics["epoch_seconds"].iloc[2:].tolist() != alone_metrics["epoch_seconds"].iloc[2:].tolist()  # its own
    np.testing.assert_array_equal(metrics["train_loss"], alone_metrics["train_loss"])


def test_the_latent_scores_leave_out_the_pca_baseline_when_asked(tmp_path):
    model, _ = fit(tmp_path)
    counts, which = spectra(300, seed=4)

    class Spectra:
        def __init__(self, part):
            self.counts, self.dominant = counts[part], which[part]

    parts = [Spectra(slice(a, b)) for a, b in ((0, 200), (200, 250), (250, 300))]
    full, own = dve.evaluate_latent(model, *parts), dve.evaluate_latent(model, *parts, baseline=False)
    assert own == {k: v for k, v in full.items() if not k.startswith("pca3_")} and "pca3_knn_accuracy_test_paintings" in full


def test_a_training_with_another_warm_up_does_not_start_from_it(tmp_path):
    _, source_metrics = fit(tmp_path, epochs=4, name="dcn", warmup_epochs=2)
    counts, _ = spectra()
    _, csv = dve.train(counts[:480], counts[480:], config(warmup_epochs=2, clustering="silhouette", lr=1e-3), 4, 64,
                       tmp_path / "other", warmup_from=tmp_path / "dcn")  # another learning rate: trained alone
    assert pd.read_csv(csv)["train_loss"].iloc[0] != source_metrics["train_loss"].iloc[0]


def test_changed_settings_never_resume_an_old_checkpoint(tmp_path):
    fit(tmp_path, epochs=2, name="d")
    _, metrics = fit(tmp_path, epochs=2, name="d", lr=1e-3)
    assert metrics["epoch"].min() == 0 and metrics["epoch"].max() == 1


def test_checkpoint_round_trip_and_deterministic_embedding(tmp_path):
    model, _ = fit(tmp_path)
    loaded = dve.load(tmp_path / "run" / "dve.ckpt", n_channels=64)
    counts = spectra(50, seed=3)[0]
    z1, z2 = dve.encode(model, counts), dve.encode(loaded, counts)
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_array_equal(z1, dve.encode(loaded, counts))


def test_embedding_separates_the_pigments(tmp_path):
    model, _ = fit(tmp_path, epochs=6)
    counts, which = spectra(300, seed=9)
    z = dve.encode(model, counts)
    centres = np.stack([z[which == k].mean(0) for k in range(3)])
    spread = max(np.linalg.norm(z[which == k] - centres[k], axis=1).mean() for k in range(3))
    gap = min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3))
    assert gap > 2 * spread


@pytest.mark.parametrize("bad, message", [
    (np.full((2, 64), np.nan, np.float32), "NaN"),
    (np.full((2, 64), np.inf, np.float32), "NaN or infinite"),
    (-np.ones((2, 64), np.int16), "negative"),
    (np.zeros((2, 64), np.int16), "no counts"),
    (np.ones((2, 32), np.int16), "32 channels, but the DVE was trained on 64"),
])
def test_bad_spectra_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        dve.encode(dve.DVE(config()), bad)


def test_missing_or_incompatible_checkpoints_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no DVE checkpoint"):
        dve.load(tmp_path / "nope.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not a DVE checkpoint"):
        dve.load(tmp_path / "other.ckpt")
    model, _ = fit(tmp_path)
    with pytest.raises(ValueError, match="expects 64 channels, the data has 512"):
        dve.load(tmp_path / "run" / "dve.ckpt", n_channels=512)


def test_finished_training_is_reused_not_repeated(tmp_path, monkeypatch):
    first, metrics = fit(tmp_path, epochs=2)
    monkeypatch.setattr(dve.L.Trainer, "fit", lambda *a, **k: pytest.fail("trained again"))
    again, metrics_again = fit(tmp_path, epochs=2)
    pd.testing.assert_frame_equal(metrics, metrics_again)
    torch.testing.assert_close(first.state_dict()["centroids"], again.state_dict()["centroids"])


def test_sharded_embedding_equals_a_single_process(tmp_path):
    from test_dataset import painting

    from xrfnb.synthetic import dataset
    from xrfnb.embedding import embedded
    from xrfnb.palette import pigments
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "seeds").mkdir()
    for i in range(6):
        Image.fromarray(painting(rng)).save(tmp_path / "seeds" / f"p{i}.png")
    palette = pigments.paper_palette()
    dataset.generate(tmp_path / "seeds", tmp_path / "dataset.h5", palette,
                     dataset.GenerateConfig(samples=7, size=16), progress=False)
    store = dataset.Store(tmp_path / "dataset.h5")
    model = dve.DVE(dve.DVEConfig())
    embedded.embed(model, store, tmp_path / "one.h5", "k", progress=False)
    for rank in range(2):
        embedded.embed(model, store, tmp_path / "two.h5", "k", progress=False, shard=(rank, 2))
    embedded.merge_embedded(store, tmp_path / "two.h5", "k", world=2)
    import h5py

    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "two.h5") as b:
        np.testing.assert_array_equal(a["embedded"][()], b["embedded"][()])
        np.testing.assert_array_equal(a["rgb"][()], b["rgb"][()])


def test_a_shorter_rerun_starts_afresh_instead_of_failing(tmp_path):
    fit(tmp_path, epochs=3)
    _, metrics = fit(tmp_path, epochs=1)
    assert list(metrics["epoch"]) == [0]


def test_held_out_pixels_were_never_trained_on(tmp_path):
    from test_dataset import painting

    from PIL import Image
    from xrfnb.synthetic import dataset
    from xrfnb.palette import pigments

    rng = np.random.default_rng(0)
    (tmp_path / "seeds").mkdir()
    for i in range(6):
        Image.fromarray(painting(rng)).save(tmp_path / "seeds" / f"p{i}.png")
    dataset.generate(tmp_path / "seeds", tmp_path / "dataset.h5", pigments.paper_palette(),
                     dataset.GenerateConfig(samples=8, size=8), progress=False)
    spectra = dve.training_spectra(dataset.Store(tmp_path / "dataset.h5"), 400, seed=0)
    seen = set(zip(spectra["train"].sample, spectra["train"].pixel))
    held = list(zip(spectra["heldout"].sample, spectra["heldout"].pixel))
    assert held and not seen & set(held)


def test_training_writes_nothing_outside_its_folder(tmp_path, monkeypatch):
    """Lightning's default checkpoint callback would write ./checkpoints; training keeps to its own folder."""
    monkeypatch.chdir(tmp_path)
    fit(tmp_path, epochs=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_centroids_start_from_spectra_across_the_whole_training_set():
    """Stored crop by crop, the first spectra are one crop's colours: a seeded random subset sees them all."""
    counts, which = spectra(n=3000)
    order = np.argsort(which, kind="stable")  # pigment 0 first, as a crop holds one colour region
    counts, which = torch.from_numpy(counts[order]), which[order]
    model = dve.DVE(config(latent_dim=3))
    model.forward = lambda c: c.float()[:, [9, 29, 49]]  # a latent that tells the pigments apart
    model.init_centroids(counts, n=300)  # the first 300 spectra are all pigment 0
    z = model(counts)
    means = torch.stack([z[torch.from_numpy(which == k)].mean(0) for k in range(3)])
    nearest = torch.cdist(means, model.centroids).min(1).values
    assert (nearest < 0.1 * torch.cdist(means, means).max()).all()  # a centroid at every pigment
    again = dve.DVE(config(latent_dim=3))
    again.forward = model.forward
    again.init_centroids(counts, n=300)
    assert torch.equal(model.centroids, again.centroids)  # seeded


def test_a_model_trained_by_other_code_is_trained_again(tmp_path, monkeypatch):
    fit(tmp_path, epochs=2)
    monkeypatch.setattr(dve.training, "code_fingerprint", lambda *modules: "another xrfnb")
    trained = []
    original = dve.L.Trainer.fit
    monkeypatch.setattr(dve.L.Trainer, "fit", lambda *a, **k: (trained.append(1), original(*a, **k)))
    fit(tmp_path, epochs=2)
    assert trained


def test_the_training_speed_is_read_from_the_metrics_file_and_absent_for_an_untrained_embedding(tmp_path):
    import pandas as pd

    pd.DataFrame({"epoch": [0, 0, 1], "epoch_seconds": [2.0, 2.0, 4.0]}).to_csv(tmp_path / "metrics.csv", index=False)
    speed = dve.training_speed(tmp_path / "metrics.csv", 300)
    assert speed == {"seconds_per_epoch": 3.0, "spectra_per_second": 100.0}
    assert dve.training_speed(None, 300) == {}
