"""Figures a reader sees: no black panels from uint8 images, and panels titled for what they show."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

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


def test_a_constant_map_is_refused_without_a_note_and_drawn_with_one(tmp_path):
    import matplotlib.pyplot as plt
    import pytest

    fig, ax = plt.subplots()
    ax.imshow(np.full((8, 8), 400.0), cmap="magma")
    ax.set_title("all counts")
    with pytest.raises(ValueError, match="constant map"):
        plots.save(fig, tmp_path / "bare.png")
    assert not (tmp_path / "bare.png").exists()
    grid = plots.image_grid({"all counts": np.full((8, 8), 400.0), "Fe Ka": np.arange(64.0).reshape(8, 8)})
    assert plots.unannotated_constant_maps(grid) == []
    assert "400" in grid.axes[0].get_title() and "constant" in grid.axes[0].get_title()
    plots.save(grid, tmp_path / "grid.png")
    rgb = np.asarray(plt.imread(tmp_path / "grid.png"))[..., :3]
    assert rgb.reshape(-1, 3).min(0).max() < 0.5  # the varying map still shows dark pixels
    swatch, ax = plt.subplots()
    ax.imshow(np.full((4, 4, 3), 0.5))  # an RGB swatch is one colour on purpose
    assert plots.unannotated_constant_maps(swatch) == []


def test_pale_pigments_are_drawn_dark_enough_to_see_on_white():
    white = plots.line_colour((243, 244, 240))
    assert white @ (0.2126, 0.7152, 0.0722) <= plots.MAX_LINE_LUMINANCE + 1e-9
    np.testing.assert_allclose(plots.line_colour((28, 28, 28)), np.full(3, 28 / 255))


def test_line_labels_are_spread_at_least_a_gap_apart_around_their_lines():
    spread = plots.spread_labels([6.40, 6.93, 7.06, 20.0], gap=1.0)
    ordered = sorted(spread)
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(ordered, ordered[1:]))
    assert abs(np.mean(spread[:3]) - np.mean([6.40, 6.93, 7.06])) < 1.5 and spread[3] > 19


def test_a_large_mosaic_numbers_its_images_and_a_small_one_titles_them():
    images = [np.zeros((40, 60, 3), np.uint8)] * 30
    big = plots.mosaic(images, [f"a long painting title number {k}" for k in range(30)])
    assert [ax.get_title() for ax in big.axes[:3]] == ["0", "1", "2"]
    small = plots.mosaic(images[:3], ["short", "a very long title that cannot fit in a thumbnail", "x"])
    titles = [ax.get_title() for ax in small.axes[:3]]
    long = "a very long title that cannot fit in a thumbnail"
    assert titles[0] == "short" and titles[1].endswith("…") and titles[1].count("\n") == 1
    assert len(titles[1]) < len(long) and long.startswith(titles[1][:-1].replace("\n", " "))


def test_a_single_pair_is_drawn_side_by_side():
    fig = plots.pairs([np.zeros((8, 8, 3))], [np.ones((8, 8, 3))], ("recoloured", "RGB"))
    (a, b) = [ax.get_position() for ax in fig.axes]
    assert b.x0 > a.x1 - 1e-6 and abs(a.y0 - b.y0) < 1e-6


def test_a_figure_of_photographs_is_stored_small(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (600, 600, 3), dtype=np.uint8)
    path = plots.save(plots.mosaic([noise] * 4, ["a", "b", "c", "d"], thumb_px=600, size=3), tmp_path / "m.png")
    assert path.stat().st_size <= plots.MAX_PNG_BYTES


def test_a_figure_too_heavy_even_with_a_palette_is_stored_at_the_pages_width(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image

    noise = np.random.default_rng(1).random((12, 160, 160))
    fig, axes = plt.subplots(3, 4, figsize=(11, 8.5))
    for ax, values in zip(axes.flat, noise):
        ax.imshow(values, cmap="magma", interpolation="nearest")
        ax.set_title("a noisy map")
    path = plots.save(fig, tmp_path / "maps.png")
    with Image.open(path) as im:
        width, mode = im.width, im.mode
    assert mode == "P" and abs(width - plots.PAGE_WIDTH_PX) <= 0.03 * plots.PAGE_WIDTH_PX
    assert plots.text_px(path) >= 0.97 * plots.MIN_POINTS * 96 / 72  # 8 points at the page's 96 px an inch


def test_a_saved_figure_records_its_smallest_text_in_pixels(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_title("title", fontsize=14)
    ax.tick_params(labelsize=9)
    path = plots.save(fig, tmp_path / "small.png")
    assert plots.text_px(path) == pytest.approx(9 * plots.DPI / 72, abs=0.01)
    assert plots.figure_record(path)[plots.NAME_KEY] == "small"


def test_importing_the_figure_modules_keeps_the_sessions_backend_and_style():
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot as plt; before = dict(plt.rcParams)\n"
            "import xrfnb.plots, xrfnb.scaling.scaling_report, xrfnb.palette.attribution, xrfnb.explore\n"
            "changed = sorted(k for k in before if before[k] != plt.rcParams[k])\n"
            "assert matplotlib.get_backend() == 'svg' and not changed, (matplotlib.get_backend(), changed)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_figure_is_made_in_the_books_style_and_leaves_the_session_as_it_was():
    import matplotlib.pyplot as plt

    size = plt.rcParams["font.size"]
    fig = plots.bar([1, 2], [3, 4], "x", "y", "title")
    assert fig.axes[0].xaxis.label.get_fontsize() == plots.STYLE["axes.labelsize"]
    assert fig.axes[0].title.get_fontsize() == plots.STYLE["axes.titlesize"]
    assert plt.rcParams["font.size"] == size
    plt.close(fig)


def test_the_smallest_text_leaves_out_the_tick_labels_of_axes_turned_off():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(5, 2.5))
    a.imshow(np.arange(16.0).reshape(4, 4))
    a.set_title("a map", fontsize=12)
    a.tick_params(labelsize=6)
    b.plot([0, 1], [0, 1])
    b.tick_params(labelsize=9)
    a.axis("off")  # its 6-point tick labels are never drawn
    fig.canvas.draw()
    assert plots.min_points(fig) == 9
    b.axis("off")
    assert plots.min_points(fig) == 12
    plt.close(fig)


def test_a_title_is_wrapped_to_its_panel_and_sized_for_a_phone():
    title = plots.wrap_to("a very long title that cannot fit in one narrow panel", 1.5, 12)
    assert title.count("\n") >= 2 and max(map(len, title.split("\n"))) <= 1.5 * 72 / (0.6 * 12)
    assert plots.wrap_to("two\nlines", 5, 8) == "two\nlines"
    assert plots.phone_points(plots.PHONE_WIDTH_IN) == plots.MIN_POINTS
    assert plots.phone_points(2 * plots.PHONE_WIDTH_IN) == 2 * plots.MIN_POINTS
