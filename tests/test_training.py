"""Judging a training from its own curve (where the best epoch fell, how often the rate was lowered), and the
rule that stops it."""

from dataclasses import replace

import pandas as pd
import pytest

from test_smalluvit import make_store, tiny_config
from xrfnb.models import recolour
from xrfnb import training
from xrfnb.config import ParameterError


def history(val, lr):
    return pd.DataFrame({"epoch": range(len(val)), "val_ms_ssim": val, "lr": lr})


def test_a_run_still_improving_at_its_last_epoch_has_not_converged():
    found = training.convergence(history([0.5, 0.6, 0.7, 0.8], [1e-3] * 4), patience=3)
    assert (found["best_epoch"], found["epochs"], found["lr_reductions"], found["converged"]) == (4, 4, 0, False)
    assert found["sentence"].startswith("Training had not converged: its best validation MS-SSIM (0.8000) came in epoch 4 "
                                        "of 4, 0 epochs before the end, and the learning rate was never lowered")


def test_a_run_whose_rate_was_lowered_and_then_plateaued_has_converged():
    val = [0.5, 0.7, 0.8, 0.79, 0.79, 0.79, 0.8, 0.79, 0.79, 0.79]
    lr = [1e-3] * 6 + [5e-4] * 4
    found = training.convergence(history(val, lr), patience=3)
    assert (found["best_epoch"], found["lr_reductions"], found["epochs_after_best"], found["converged"]) == (3, 1, 7, True)
    assert "lowered 1 time (from 0.001 to 0.0005)" in found["sentence"]


def test_a_lowered_rate_with_a_recent_best_is_not_yet_converged():
    found = training.convergence(history([0.5, 0.6, 0.6, 0.6, 0.6, 0.7], [1e-3] * 5 + [5e-4]), patience=3)
    assert found["lr_reductions"] == 1 and not found["converged"]


def test_no_curve_is_refused():
    with pytest.raises(ValueError, match="no training curve to judge"):
        training.convergence(pd.DataFrame(), patience=3)


def test_a_run_the_stopping_rule_ended_says_so():
    val = [0.5, 0.7, 0.8, 0.79, 0.79, 0.79, 0.79, 0.79, 0.79]
    found = training.convergence(history(val, [1e-3] * 7 + [5e-4] * 2), patience=3, max_epochs=100)
    assert found["stopped_early"] and found["converged"]
    assert found["sentence"].endswith("The stopping rule ended it after 9 of at most 100 epochs.")
    assert not training.convergence(history(val, [1e-3] * 9), patience=3, max_epochs=9)["stopped_early"]


def test_training_stops_after_stop_patience_epochs_without_a_better_validation_ms_ssim(tmp_path):
    store = make_store(tmp_path / "emb.h5")
    config = replace(tiny_config(), lr=0.0, plateau_patience=0, stop_patience=2)  # lr 0: nothing improves
    _, csv = recolour.train(store, config, 20, 4, tmp_path / "run")
    rows = pd.read_csv(csv)
    assert len(rows) == 3  # the first epoch, then 2 without a better validation MS-SSIM


def test_a_stop_patience_the_plateau_schedule_cannot_act_within_is_refused():
    with pytest.raises(ParameterError, match="uvit_stop_patience must be 0 or more than uvit_patience"):
        recolour.TrainParams(uvit_patience=3, uvit_stop_patience=4)
    assert recolour.TrainParams(uvit_patience=3, uvit_stop_patience=5).model_config(32).stop_patience == 5
