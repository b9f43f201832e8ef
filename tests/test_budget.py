"""A profile that cannot finish in its budget on this machine says so before starting."""

import pytest

from xrfnb.evaluation import evaluate
from xrfnb.pipeline import budget, runner
from xrfnb.io import write_json

SMALL = {"n_samples": 100, "image_size": 64, "dve_spectra": 10_000, "dve_epochs": 10, "uvit_epochs": 10,
         "compare_epochs": 10, "seed_limit": 30}


def measured_here(runs):
    write_json(runs / "smoke" / "computed.json", {
        "05_embedded_dataset": {"seconds": 10.0, "date": "2026-11-22", "parameters": SMALL},
        "06_train_smalluvit": {"seconds": 60.0, "date": "2026-11-22", "parameters": SMALL}})


def test_the_estimate_scales_measured_seconds_by_the_work(tmp_path):
    measured_here(tmp_path)
    bigger = {**SMALL, "n_samples": 400, "image_size": 128, "uvit_epochs": 20}
    seconds = budget.estimate(["05_embedded_dataset", "06_train_smalluvit"], bigger, tmp_path)
    assert seconds == pytest.approx(10 * 16 + 60 * 32)
    assert budget.estimate(["04_train_dve"], bigger, tmp_path) is None  # never measured: no estimate


def test_a_profile_far_over_its_budget_is_refused_before_it_starts(tmp_path):
    measured_here(tmp_path)
    profile = runner.Profile("big", "", "cpu", 100, {}, budget_s=600)
    big = {**SMALL, "n_samples": 10_000, "image_size": 256}
    (tmp_path / "big").mkdir()
    with pytest.raises(runner.RunError, match=r"would take about \d+ min on this machine .* budget of 10 min"):
        runner.check_budget(profile, ["05_embedded_dataset", "06_train_smalluvit"], big, tmp_path / "big")
    runner.check_budget(profile, ["05_embedded_dataset"], SMALL, tmp_path / "big")  # within budget: silent


def test_the_evaluation_budget_counts_every_compared_model():
    one = {**SMALL, "compare_epochs": 1}
    assert budget.work("07_evaluate", one) == budget.work("06_train_smalluvit", {**SMALL, "uvit_epochs": 1}) * len(
        evaluate.COMPARED)


def test_the_dve_stage_counts_every_training_of_its_comparison():
    one = budget.work("04_train_dve", {**SMALL, "dve_compare_seeds": []})
    assert budget.work("04_train_dve", {**SMALL, "seed": 0, "dve_compare_seeds": [0, 1, 2]}) == 9 * one  # own reused
    assert budget.work("04_train_dve", {**SMALL, "seed": 5, "dve_compare_seeds": [0]}) == 4 * one


def test_the_dve_stage_counts_the_warm_up_its_comparison_shares_once():
    """A variant of a comparison seed starts from that seed's first training's warm-up (`dve.train`)."""
    shared = {**SMALL, "dve_warmup_epochs": 4, "seed": 0}
    one = budget.work("04_train_dve", {**shared, "dve_compare_seeds": []})  # 10 epochs
    assert budget.work("04_train_dve", {**shared, "dve_compare_seeds": [0]}) == one * (10 + 2 * 6) / 10
    assert budget.work("04_train_dve", {**shared, "dve_compare_seeds": [0, 1]}) == one * (10 + 2 * 6 + 10 + 2 * 6) / 10
    assert budget.work("04_train_dve", {**shared, "dve_compare_seeds": [1], "embedding": "pca"}) == one * 22 / 10
