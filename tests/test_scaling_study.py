"""The controlled scaling study: nested painting subsets, budgets, resumable points, failures, the fit."""

import json

import h5py
import lightning as L
import numpy as np
import pytest
import torch

from xrfnb.models import recolour, smalluvit
from xrfnb.scaling import scaling_fit, scaling_report, scaling_study
from xrfnb import training
from xrfnb.embedding.embedded import EmbeddedStore

TINY = dict(dim=32, heads=2, dim_head=16, depth_in=1, depth_mid=1, depth_out=1, drop_path=0.0)
TARGETS = {"lite": 4200, "paper": 218_400}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine two threads wait on each other far longer than they gain."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_store(path, train_paintings=16, crops=2, size=32):
    """An embedded store in the pipeline's layout whose colour is a smooth function of the embedding."""
    rng = np.random.default_rng(0)
    painting = np.concatenate([np.repeat(np.arange(train_paintings), crops), np.arange(100, 104),
                               np.repeat(np.arange(200, 204), 2)])
    split = np.array([0] * (train_paintings * crops) + [1] * 4 + [2] * 8, dtype=np.uint8)
    n = len(painting)
    emb = rng.normal(size=(n, 3, size, size)).astype(np.float32)
    rgb = (255 / (1 + np.exp(-emb.transpose(0, 2, 3, 1)))).astype(np.uint8)
    with h5py.File(path, "w") as h5:
        h5["embedded"], h5["rgb"] = emb.astype(np.float16), rgb
        h5["split"], h5["painting"], h5["done"] = split, painting.astype(np.int32), np.ones(n, bool)
        h5.attrs.update(complete=True, key="scaling-test")
    return path


def study_config(models=("pixel_mlp",), fractions=(0.125, 0.25, 0.5, 1.0), budget=0.02, lr=3e-3):
    recipe = recolour.RecolourConfig(model=smalluvit.SmallUViTConfig(image_size=32, **TINY), lr=lr)
    return scaling_study.StudyConfig(recipe, models, fractions, budget, batch_size=8, patience=3)


def test_training_sets_are_nested_seeded_subsets_of_paintings_with_the_test_set_fixed(tmp_path):
    store = EmbeddedStore(make_store(tmp_path / "embedded.h5"))
    train_paintings = store.h5["painting"][store.indices("train")]
    subsets = scaling_study.nested_subsets(train_paintings, (0.125, 0.25, 0.5, 1.0), seed=0)
    assert [len(s) for s in subsets] == [2, 4, 8, 16]
    assert all(set(a) < set(b) for a, b in zip(subsets, subsets[1:]))
    again = scaling_study.nested_subsets(train_paintings, (0.125, 0.25, 0.5, 1.0), seed=0)
    other = scaling_study.nested_subsets(train_paintings, (0.125, 0.25, 0.5, 1.0), seed=1)
    assert all((a == b).all() for a, b in zip(subsets, again)) and any(set(a) != set(b) for a, b in zip(subsets, other))
    view = scaling_study.TrainingSubset(store.path, subsets[0])
    assert set(view.h5["painting"][view.indices("train")]) == set(subsets[0]) and len(view.indices("train")) == 4
    for split in ("val", "test"):
        np.testing.assert_array_equal(view.indices(split), store.indices(split))
    assert view.key != store.key != scaling_study.TrainingSubset(store.path, subsets[1]).key


def test_an_epoch_draws_a_fixed_number_of_images_in_passes_that_use_every_image_equally():
    sampler = training.EpochShuffle(5, seed=3, length=12)
    draws = []
    for epoch in range(5):
        sampler.set_epoch(epoch)
        draws += list(sampler)
    assert len(draws) == 60 and np.bincount(draws).tolist() == [12] * 5
    assert all(sorted(draws[i:i + 5]) == list(range(5)) for i in range(0, 60, 5))  # consecutive whole passes
    sampler.set_epoch(2)
    assert list(sampler) == draws[24:36]


def test_every_model_gets_the_same_flop_budget_in_whole_epochs():
    cfg = study_config(models=("smalluvit", "unet", "pixel_mlp"))
    flops = {m: scaling_study.train_flops_per_image(cfg.for_model(m), 32) for m in cfg.models}
    assert flops["unet"] > flops["pixel_mlp"] > 0 and flops["smalluvit"] > 0
    epochs = {m: scaling_study.planned_epochs(5.0, f, 32) for m, f in flops.items()}
    for m, f in flops.items():
        assert abs(epochs[m] * f * 32 / 1e12 - 5.0) <= f * 32 / 2e12 or epochs[m] == 1  # nearest whole epoch
    assert epochs["pixel_mlp"] > epochs["unet"]


def test_the_study_fits_extrapolates_and_a_rerun_skips_finished_points(tmp_path):
    make_store(tmp_path / "embedded.h5")
    out, log = tmp_path / "book", []
    doc = scaling_study.run_study(tmp_path, out, study_config(), "test", TARGETS, 1e9, progress=log.append)
    fit = json.loads((out / "fit.json").read_text())["models"]["per-pixel MLP"]
    assert fit["fitted"] and fit["sizes"] == 4 and len(fit["points"]) == 4
    scale = fit["paper_scale"]
    assert scale["train_images"] == 218_400 and scale["epochs"] == 100
    assert scale["interval"][0] <= scale["ms_ssim"] <= scale["interval"][1]
    assert doc["models"]["per-pixel MLP"]["paper_scale"] == scale
    points = sorted((out / "points" / "test").glob("*.json"))
    assert [json.loads(p.read_text())["train_images"] for p in points] == [32, 4, 8, 16]  # named by paintings
    assert (out / "study.png").stat().st_size > 10_000 and "extrapolat" in (out / "study.md").read_text()
    shown = max(json.loads(p.read_text())["epochs_run"] for p in points) * 32
    assert f"at most {shown:,} images shown to a model" in (out / "study.md").read_text()
    assert f"{100 * 218_400 / shown:,.0f} times as many" in (out / "study.md").read_text()
    stamps = [p.stat().st_mtime_ns for p in points]
    log.clear()
    scaling_study.run_study(tmp_path, out, study_config(), "test", TARGETS, 1e9, progress=log.append)
    assert [p.stat().st_mtime_ns for p in points] == stamps and sum("[reused]" in line for line in log) == 4


class Count(L.Callback):
    batches = 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.batches += 1


class Kill(L.Callback):
    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == 1:
            raise RuntimeError("killed")


def test_a_killed_point_resumes_from_its_last_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path):
    make_store(tmp_path / "embedded.h5")
    cfg = study_config(budget=0.02)
    killed = scaling_study.Study(tmp_path / "embedded.h5", tmp_path / "work", tmp_path / "points", cfg)
    paintings = killed.subsets[1]
    with pytest.raises(RuntimeError, match="killed"):
        killed.point("pixel_mlp", paintings, callbacks=[Kill()])
    assert (tmp_path / "work" / "pixel_mlp-4" / "last.ckpt").exists() and not list((tmp_path / "points").glob("*"))
    after, whole = Count(), Count()
    resumed = killed.point("pixel_mlp", paintings, callbacks=[after])
    clean = scaling_study.Study(tmp_path / "embedded.h5", tmp_path / "work2", tmp_path / "points2", cfg)
    fresh = clean.point("pixel_mlp", paintings, callbacks=[whole])
    assert after.batches == whole.batches - 2 * whole.batches // fresh["epochs_run"]  # epochs 1 and 2 not redone
    assert resumed["epochs_planned"] >= 3 and resumed["epochs_run"] == fresh["epochs_run"]
    assert resumed["curve"]["val_ms_ssim"] == pytest.approx(fresh["curve"]["val_ms_ssim"], abs=1e-6)


def test_a_diverged_point_is_recorded_as_failed_with_its_reason_and_left_out_of_the_fit(tmp_path, monkeypatch):
    make_store(tmp_path / "embedded.h5")
    study = scaling_study.Study(tmp_path / "embedded.h5", tmp_path / "work", tmp_path / "points", study_config())
    monkeypatch.setattr(recolour, "srgb_loss", lambda pred, target: (pred - target).mean() * float("nan"))
    failed = study.point("pixel_mlp", study.subsets[0])
    monkeypatch.undo()
    assert failed["status"] == "failed" and "training diverged: training loss nan at epoch 1" in failed["reason"]
    assert json.loads((tmp_path / "points" / "pixel_mlp-2.json").read_text())["status"] == "failed"
    ok = [study.point("pixel_mlp", s) for s in study.subsets[1:]]
    doc = scaling_report.fit_document([failed, *ok], ["per-pixel MLP"], TARGETS,
                                      scaling_study.paper_scale(), "test", 32, 0)
    fit = doc["models"]["per-pixel MLP"]
    assert fit["fitted"] and fit["sizes"] == 3
    assert {"train_images": 4, "status": "failed", "reason": failed["reason"]} in fit["points"]
    assert "**failed**: training diverged" in scaling_report.markdown([failed, *ok], doc, [])


def synthetic_points(sizes, a=2.0, alpha=0.4, c=0.05, paintings=12, seed=0):
    """Point records whose per-image MS-SSIM follows a known curve, with noise shared by each painting."""
    rng = np.random.default_rng(seed)
    test_paintings = np.repeat(np.arange(paintings), 3)
    offset = rng.normal(0, 0.01, paintings)[test_paintings]
    points = []
    for n in sizes:
        ms = 1 - scaling_fit.power_law(n, a, alpha, c) + offset + rng.normal(0, 0.002, len(offset))
        summary = {"mean": float(ms.mean()), "interval": [float(ms.mean()) - 0.01, float(ms.mean()) + 0.01]}
        points.append({"model": "M", "status": "ok", "train_images": n, "train_paintings": n // 9,
                       "stopped_by": "convergence", "epochs_run": 3, "epochs_planned": 5, "train_tflop": 0.1,
                       "budget_tflop": 0.2,
                       "train_seconds": 1.0, "test": {"ms_ssim": summary, "srgb_loss": summary},
                       "curve": {"epoch": [1, 2, 3], "train_tflop": [0.1, 0.2, 0.3], "val_ms_ssim": [0.5, 0.6, 0.7]},
                       "test_paintings": test_paintings.tolist(), "per_image": {"ms_ssim": ms.tolist()}})
    return points


def test_the_fit_recovers_a_known_power_law_and_its_interval_covers_the_truth():
    points = synthetic_points([150, 300, 600, 1200, 2400])
    fit = scaling_report.fits(points, ["M"], TARGETS, seed=0)["M"]
    truth = 1 - scaling_fit.power_law(TARGETS["paper"], 2.0, 0.4, 0.05)
    assert fit["fitted"] and fit["alpha"] == pytest.approx(0.4, abs=0.1)
    lo, hi = fit["at"]["paper"]["interval"]
    assert lo <= truth <= hi and hi - lo < 0.1


def test_an_extrapolation_below_a_measured_result_is_withheld_from_the_table_the_sentences_and_the_figure():
    """Issue 34: a budget-limited study extrapolated below what the same model measured answers nothing."""
    points = synthetic_points([150, 300, 600, 1200, 2400])
    longer = {"M": [["the same model trained longer", 0.999]]}
    doc = scaling_report.fit_document(points, ["M"], TARGETS, scaling_study.paper_scale(), "test", 32, 0, longer)
    at = doc["models"]["M"]["at"]["paper"]
    assert not at["holds"] and at["measured_above"] == [["the same model trained longer", 0.999]]
    text = scaling_report.markdown(points, doc, []) + " ".join(scaling_report.verdicts(doc))
    assert f"{at['ms_ssim']:.4f}" not in text and "not shown: below the 0.9990 measured with the same model" in text
    assert "not extrapolated to the paper's 218,400 training images" in text
    fig = scaling_report.figure(points, doc)
    assert not any(line.get_marker() == "D" for line in fig.axes[0].get_lines())  # no extrapolated diamond
    held = scaling_report.fit_document(points, ["M"], TARGETS, scaling_study.paper_scale(), "test", 32, 0, {})
    assert held["models"]["M"]["at"]["paper"]["holds"]
    assert f"{held['models']['M']['at']['paper']['ms_ssim']:.4f}" in " ".join(scaling_report.verdicts(held))


def test_a_fit_over_fewer_than_three_sizes_refuses_to_extrapolate_and_says_so():
    points = synthetic_points([300, 1200])
    doc = scaling_report.fit_document(points, ["M"], TARGETS, scaling_study.paper_scale(), "test", 32, 0)
    fit = doc["models"]["M"]
    assert not fit["fitted"] and "paper_scale" not in fit and "at" not in fit
    assert "only 2 training-set sizes finished" in fit["reason"] and "needs at least 3" in fit["reason"]
    assert "not fitted: only 2 training-set sizes" in scaling_report.markdown(points, doc, [])
    assert "not extrapolated" in " ".join(scaling_report.verdicts(doc))


def test_a_study_whose_planned_time_exceeds_the_limit_is_refused(tmp_path):
    make_store(tmp_path / "embedded.h5")
    # a limit below any measured plan (a tiny model's plan can take under a second on a quiet machine)
    with pytest.raises(RuntimeError, match="exceeds scaling_time_limit_s=0; lower scaling_budget_tflop"):
        scaling_study.run_study(tmp_path, tmp_path / "book", study_config(), "test", TARGETS, 1e-6)
    assert not (tmp_path / "book" / "fit.json").exists()


def test_a_profiles_training_images_are_counted_as_the_dataset_splits_them():
    assert scaling_study.profile_train_images(1600, 174, 0) == 1119  # the published laptop run's training crops


def test_a_profiles_scaling_block_and_overrides_set_the_study_and_unknown_keys_are_refused():
    laptop = scaling_study.ScalingParams.at_profile("laptop", ["scaling_fractions=[0.25, 1.0]"])
    assert laptop.scaling_budget_tflop == 16.0 and laptop.scaling_fractions == (0.25, 1.0)
    assert scaling_study.ScalingParams.at_profile("smoke") == scaling_study.ScalingParams()
    with pytest.raises(ValueError, match=r"scaling parameters \['scaling_budget'\] unknown"):
        scaling_study.ScalingParams.at_profile("smoke", ["scaling_budget=3"])


def test_the_caveats_compare_the_budget_with_the_papers_and_name_a_model_whose_one_epoch_exceeds_it():
    points = synthetic_points([150, 300, 600])
    for p in points:
        p.update(epoch_images=600, budget_tflop=0.1)
    points[0].update(model="U", epochs_run=1, train_tflop=0.174)
    paper = scaling_study.paper_scale()
    notes = scaling_report.caveats(points, TARGETS, 30, paper)
    shown = 3 * 600
    assert (f"at most {shown:,} images shown to a model). The paper showed {paper['epochs']} epochs of "
            f"{paper['train_images']:,} images") in notes[-1]
    assert "The U's single epoch is 1.74 times the budget" in notes[-1] and "The M's" not in notes[-1]
