"""Chapter 4's comparison of the clustering losses: every variant and seed scored, summarised over seeds."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xrfnb.embedding import dve, dve_compare


def runs_table():
    rows = [{"variant": v, "seed": s, "lookup_ms_ssim": m + 0.01 * s, "knn_accuracy_heldout_pixels": 0.5,
             "knn_accuracy_test_paintings": 0.4, "latent_silhouette": 0.3, "training_seconds": 10.0 + s,
             "undefined_batches": s}
            for v, m in (("dcn", 0.50), ("silhouette-grad", 0.60)) for s in (0, 1, 2)]
    rows.append({**rows[0], "variant": dve_compare.PCA, "lookup_ms_ssim": 0.7, "training_seconds": 0.0})
    return pd.DataFrame(rows)


def test_summary_gives_student_t_intervals_over_seeds_and_none_from_one():
    summary = dve_compare.summarise(runs_table())
    values = np.array([0.60, 0.61, 0.62])
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    row = summary.loc["silhouette-grad"]
    assert row["seeds"] == 3 and row["lookup_ms_ssim"] == pytest.approx(0.61)
    assert row["lookup_ms_ssim low"] == pytest.approx(0.61 - half)
    assert row["lookup_ms_ssim high"] == pytest.approx(0.61 + half)
    assert np.isnan(summary.loc[dve_compare.PCA, "lookup_ms_ssim low"])  # one run: no interval


def test_the_best_is_a_trained_variant_and_the_verdict_says_whether_it_is_the_default():
    summary = dve_compare.summarise(runs_table())
    assert dve_compare.best_downstream(summary) == "silhouette-grad"  # PCA-3 scores higher but is no variant
    lookup = {"train": 24, "test": 9}
    text = dve_compare.verdict(summary, "silhouette-grad", lookup)
    assert "`silhouette-grad` 0.6100" in text and "0.7000 for the PCA-3 baseline" in text
    assert "beyond the seed-to-seed spread" in text and text.endswith("it is this run's `dve_clustering`.")
    assert dve_compare.verdict(summary, "dcn", lookup).endswith("this run's `dve_clustering` is `dcn`.")


@pytest.fixture
def tiny_run(tmp_path):
    from PIL import Image
    from test_dataset import painting

    from xrfnb.synthetic import dataset
    from xrfnb.palette import pigments

    rng = np.random.default_rng(0)
    (tmp_path / "seeds").mkdir()
    for i in range(6):
        Image.fromarray(painting(rng)).save(tmp_path / "seeds" / f"p{i}.png")
    dataset.generate(tmp_path / "seeds", tmp_path / "dataset.h5", pigments.paper_palette(),
                     dataset.GenerateConfig(samples=10, size=16), progress=False)
    return tmp_path


def test_compare_scores_every_variant_and_seed_reusing_the_stage_training(tiny_run):
    from xrfnb.synthetic.dataset import Store

    spectra = dve.training_spectra(Store(tiny_run / "dataset.h5"), 600, seed=0)
    config = dve.DVEParams(dve_clusters=3, dve_warmup_epochs=1, dve_ramp_epochs=1, dve_lr=3e-3,
                           dve_clustering="dcn").model_config(512)
    model, csv = dve.train(spectra["train"].counts, spectra["val"].counts, config, 2, 64, tiny_run / "dve",
                           data_key="tiny")  # as the stage trains it
    stage = dve.Stage(model, csv, config, spectra, "tiny")
    own = {**dve.evaluate_latent(model, spectra["train"], spectra["heldout"], spectra["test"]), "latent_silhouette": 0.5}
    table = dve_compare.compare(tiny_run, stage, [0, 1], 64, 2, 3, variants=("dcn", "silhouette"),
                                own_scores=own)
    assert list(zip(table["variant"], table["seed"])) == [("dcn", 0), ("dcn", 1), ("silhouette", 0),
                                                          ("silhouette", 1), (dve_compare.PCA, 0)]
    assert table["latent_silhouette"].tolist()[0] == 0.5  # the chapter's scores of the stage's model, reused
    assert not (tiny_run / "dve_compare" / "dcn_seed0").exists()  # the stage's own training, reused
    assert sorted(p.name for p in (tiny_run / "dve_compare").iterdir()) == ["dcn_seed1", "silhouette_seed0",
                                                                          "silhouette_seed1"]
    scores = table[list(dve_compare.SCORES)].astype(float)
    assert np.isfinite(scores.drop(columns="latent_silhouette")).all().all()
    assert table["lookup_ms_ssim"].between(-1, 1).all() and (table["training_seconds"].iloc[:4] > 0).all()
    assert table.attrs["lookup_samples"]["train"] == 3
