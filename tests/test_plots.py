"""Figures a reader sees: no black panels from uint8 images, and panels titled for what they show."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd

from xrfnb import plots


def test_triplets_show_a_uint8_ground_truth_in_its_colours():
    target = np.full((16, 16, 3), (200, 120, 40), dtype=np.uint8)
    pred = np.full((16, 16, 3), 0.5, dtype=np.float32)
    fig = plots.triplets([pred], [pred], [target], [{"ms_ssim": 0.5, "uiqi": 0.4}], ["best"])
    shown = fig.axes[2].get_images()[0].get_array()
    np.testing.assert_allclose(np.asarray(shown)[0, 0], np.array([200, 120, 40]) / 255, atol=1e-6)


def test_the_learning_rate_panel_is_titled_learning_rate():
    history = pd.DataFrame({"epoch": [0, 1], "train_loss": [1.0, 0.9], "val_loss": [1.1, 1.0],
                            "lr": [1e-3, 5e-4]})
    fig = plots.training_curves(history, ["loss"], ["lr"], "learning rate")
    assert fig.axes[-1].get_title() == "learning rate"
    assert [line.get_label() for line in fig.axes[-1].get_lines()] == ["lr"]


def test_saved_figures_have_no_text_below_8_points_at_the_page_width(tmp_path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3))
    for ax in axes:
        ax.set_title("panel", fontsize=6)
        ax.plot([0, 1], [0, 1])
        ax.tick_params(labelsize=5)
    plots.save(fig, tmp_path / "wide.png")
    assert plots.rendered_min_points(fig) >= plots.MIN_POINTS - 1e-9
    assert fig.get_size_inches()[0] <= plots.MAX_WIDTH_IN
