"""The verdict box and findings, written from a run's result files, made by the writers chapter 7 calls."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from xrfnb.evaluation import compared, findings, verdict
from xrfnb import result_files
from xrfnb.pipeline import book

from conftest import ROOT

PAPER = verdict.paper()["metrics"]


def frame(rows: dict[str, dict], index: str) -> pd.DataFrame:
    return pd.DataFrame(rows).T.rename_axis(index)


def comparison(lookup=(0.82, 0.20), unet=(0.87, 0.16)) -> pd.DataFrame:
    """Chapter 7's compared models as `evaluate.compare` returns them (MS-SSIM, loss and intervals)."""
    return frame({verdict.LOOKUP: {"parameters": 0, "ms_ssim": lookup[0], "srgb_loss": lookup[1],
                                   "ms_ssim low": 0.79, "ms_ssim high": 0.85},
                  compared.PAPER: {"parameters": 3_500_000, "ms_ssim": 0.74, "srgb_loss": 0.23,
                                   "ms_ssim low": 0.70, "ms_ssim high": 0.78},
                  compared.UNET: {"parameters": 3_400_000, "ms_ssim": unet[0], "srgb_loss": unet[1],
                                  "ms_ssim low": 0.85, "ms_ssim high": 0.89}}, "model")


def write_run(book_dir: Path, profile: str, date: str, ms=(0.80, 0.77, 0.84), loss=(0.19, 0.16, 0.22),
              floors_metrics=("srgb_loss", "delta_e2000", "ms_ssim", "uiqi"), models=None) -> None:
    """A finished run's `executed/run.json`, and its `results/` written by the writers chapter 7 calls."""
    (book_dir / "executed").mkdir(parents=True)
    (book_dir / "executed" / "run.json").write_text(json.dumps(
        {"profile": profile, "date": date, "parameters": {"uvit_epochs": 40}, "stages": {}}))
    r = book_dir / "results"
    table = pd.DataFrame([{"metric": "srgb_loss", "paper": PAPER["srgb_loss"]["value"], "reproduced": loss[0],
                           "95 % interval low": loss[1], "95 % interval high": loss[2]},
                          {"metric": "ms_ssim", "paper": PAPER["ms_ssim"]["value"], "reproduced": ms[0],
                           "95 % interval low": ms[1], "95 % interval high": ms[2]}])
    result_files.write_test_metrics(r, table, {"srgb_loss": loss[0], "ms_ssim": ms[0]}, profile, 160, 17)
    values = {"srgb_loss": 0.10, "delta_e2000": 4.9, "ms_ssim": 0.915, "uiqi": 0.6}
    floors = frame({verdict.CLUSTERED: {m: values[m] + 0.04 for m in floors_metrics},
                    verdict.ORACLE: {m: values[m] for m in floors_metrics}}, "model")
    result_files.write_floors(r, floors)
    models = comparison() if models is None else models
    result_files.write_comparison(r, models, floors, profile, 5)
    counts = frame({400: {"ms_ssim": ms[0], "srgb_loss": loss[0]},
                    1600: {"ms_ssim": ms[0] - 0.02, "srgb_loss": loss[0] + 0.04}}, "counts per pixel")
    options = frame({"as trained (linear mixing, fixed counts)": {"ms_ssim": ms[0], "srgb_loss": loss[0]}},
                    "generator setting")
    result_files.write_robustness(r, counts, options)
    curves = {name: [0.5, 0.7] for name in compared.RECORDED}
    result_files.write_scaling(r, result_files.scaling_record(profile, 1119, 128, models, 5, curves,
                                                                train_paintings=122))


def test_the_box_gives_both_sides_with_intervals_the_test_set_and_a_verdict(tmp_path):
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    box = verdict.box_markdown(tmp_path)
    assert f"{PAPER['ms_ssim']['value']:.4f}" in box and "0.8000 (0.7700 to 0.8400)" in box
    assert "160 crops of 17 paintings" in box and "falls short of the paper" in box
    assert "0.9150" in box and "0.8200 against SmallUViT's 0.8000, a difference of +0.0200, inside" in box
    assert "Not yet measured" in box and "smoke" not in box


def test_the_training_crops_are_counted_with_the_paintings_of_the_training_split(tmp_path):
    """1,119 crops come from the 122 training paintings, not from all 174 bundled ones (issue 37)."""
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    box = verdict.box_markdown(tmp_path)
    assert "1,119 crops of 128 px from the 122 paintings of the training split" in box
    record = json.loads((tmp_path / "book" / "results" / "scaling.json").read_text())
    del record["train_paintings"]  # a record written before the count was kept
    (tmp_path / "book" / "results" / "scaling.json").write_text(json.dumps(record))
    box = verdict.box_markdown(tmp_path)
    assert "the paintings of the training split (this run's record does not count them)" in box


def test_a_robustness_finding_reads_each_difference_against_the_interval(tmp_path, monkeypatch):
    """"More photons score worse" rested on an MS-SSIM difference inside the interval (issue 37): the
    finding words each measure with `prose.versus`, and its lead follows only what lies outside."""
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    monkeypatch.setattr(findings, "threshold_sentence", lambda run: "")  # chapter 3's glue: not written here
    found = findings.findings_markdown(tmp_path)
    assert "*More photons score worse.*" in found  # the loss, 0.23 against 0.19, lies outside 0.16 to 0.22
    assert "0.7800 against 0.8000, a difference of -0.0200, inside the 95 % interval" in found
    counts = frame({400: {"ms_ssim": 0.80, "srgb_loss": 0.19}, 1600: {"ms_ssim": 0.79, "srgb_loss": 0.20}},
                   "counts per pixel")
    result_files.write_robustness(tmp_path / "book" / "results", counts, frame(
        {"as trained (linear mixing, fixed counts)": {"ms_ssim": 0.80, "srgb_loss": 0.19},
         "physics mixing of compositions": {"ms_ssim": 0.60, "srgb_loss": 0.50}}, "generator setting"))
    found = findings.findings_markdown(tmp_path)
    assert "*More photons change nothing measurable.*" in found and "score worse" not in found
    assert "*Physics mixing breaks the model.*" in found and "0.6000 against 0.8000" in found


def fit_file(root, profile, at_paper=0.8612):
    """A filed scaling study: SmallUViT's points (both ended by the 16 TFLOP budget) and its curve's value
    at the paper's training set."""
    (root / "book" / "scaling").mkdir(exist_ok=True)
    points = [{"train_images": 100, "status": "ok", "ms_ssim": 0.70, "stopped_by": "budget"},
              {"train_images": 800, "status": "ok", "ms_ssim": 0.75, "stopped_by": "budget"},
              {"train_images": 1600, "status": "failed"}]
    uvit = {"fitted": True, "points": points,
            "at": {"paper": {"train_images": 218400, "ms_ssim": at_paper, "interval": [at_paper - 0.02, at_paper + 0.02]}}}
    (root / "book" / "scaling" / "fit.json").write_text(json.dumps({"profile": profile,
                                                                    "models": {"SmallUViT": uvit}}))
    (root / "book" / "scaling" / "study.json").write_text(json.dumps({"plan": {"budget_tflop": 16.0}}))


def test_the_box_quotes_what_the_scaling_study_measured_at_its_budget(tmp_path):
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    fit_file(tmp_path, "laptop")
    box = verdict.box_markdown(tmp_path)
    assert "Measured at a fixed compute budget" in box and "every point 16 TFLOP" in box
    assert "0.7000 on 100 training images and 0.7500 on 800" in box and "2 of its 2 points ended at the budget" in box
    assert "it measured 0.8000 (chapter 6)" in box
    assert "An extrapolation, not a measurement" in box and "0.8612 (0.8412 to 0.8812)" in box


@pytest.mark.parametrize("at_paper", [0.7913, 0.7412])  # below the run's 0.8000; below the study's own 0.7500
def test_the_box_quotes_no_extrapolation_below_a_measured_result(tmp_path, at_paper):
    """Issue 34: a budget-limited curve extrapolated below what the same model measured is no answer."""
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    fit_file(tmp_path, "laptop", at_paper)
    box = verdict.box_markdown(tmp_path)
    assert f"{at_paper:.4f}" not in box and "An extrapolation" not in box
    assert "quotes no value there" in box and ("below the 0.8000 measured by this run's SmallUViT" in box or
                                                "below the 0.7500 measured by the study's point" in box)


def test_the_published_book_quotes_no_extrapolation_below_a_result_its_run_measured():
    """The published verdict and the filed study's page quote no value of the fitted curves that lies below
    a result measured for the same model: the study's own points, or the published run's."""
    from xrfnb.scaling import scaling_report

    published = verdict.Run.load(ROOT / "book" / "published")
    fit = json.loads((ROOT / "book" / "scaling" / "fit.json").read_text())
    assert fit["profile"] == published.profile
    study = (ROOT / "book" / "scaling" / "study.md").read_text()
    box = verdict.what_it_would_take(ROOT, published)
    run = scaling_report.measured_by_the_run(ROOT / "book" / "published" / "results", published.profile)
    checked = 0
    for model, found in fit["models"].items():
        measured = [[p["train_images"], p["ms_ssim"]] for p in found.get("points", []) if p["status"] == "ok"]
        measured += run.get(model, [])
        for at in found.get("at", {}).values():
            if scaling_report.measured_above(at["ms_ssim"], measured):
                checked += 1
                assert f"{at['ms_ssim']:.4f}" not in study + box, (model, at)
    assert checked, "the published study has no extrapolation below a measured result to check"


def test_a_scaling_fit_of_another_scale_does_not_answer_for_the_run(tmp_path):
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    fit_file(tmp_path, "smoke")
    box = verdict.box_markdown(tmp_path)
    assert "Not yet measured" in box and "0.8612" not in box and "at `smoke` scale" in box


def test_a_smoke_book_says_so_and_gives_the_published_numbers(tmp_path):
    write_run(tmp_path / "book", "smoke", "2026-12-01", ms=(0.46, 0.40, 0.50))
    write_run(tmp_path / "book" / "published", "laptop", "2026-11-22")
    box = verdict.box_markdown(tmp_path)
    assert "`smoke`-scale run" in box and "0.4600 (0.4000 to 0.5000)" in box
    assert "published `laptop` run" in box and "0.8000 (0.7700 to 0.8400)" in box
    assert "`book/published/`" in box  # no address to link: the repository's folder is named
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/Someone/xrfnb\n")
    box = verdict.box_markdown(tmp_path)
    assert "[the published book](https://someone.github.io/xrfnb/)" in box and "book/published" not in box


def test_the_site_address_is_read_from_the_config():
    """The published site, not a repository folder, is where the smoke book sends its reader (issue 37)."""
    from xrfnb import locations

    site = locations.site_url(ROOT)  # this checkout's html.baseurl, or its repository's Pages address
    assert site.startswith("https://") and site.endswith("/") and "github.com" not in site


def test_the_run_summary_says_which_numbers_come_from_which_run():
    """The smoke book's results page said "the numbers on this page come from the smoke profile" under
    the published laptop numbers (issue 37)."""
    smoke = {"profile": "smoke", "date": "2026-12-01T10:00", "device": "2-core CPU", "git_commit": "a" * 40}
    laptop = {**smoke, "profile": "laptop", "date": "2026-11-22T10:00", "git_commit": "b" * 40}
    own = book.run_summary_markdown(laptop, laptop, "https://x.github.io/y/")
    assert "The numbers on this page come from the **laptop** profile" in own and "published book" not in own
    both = book.run_summary_markdown(smoke, laptop, "https://x.github.io/y/")
    assert "verdict box above gives the numbers of the published run, the **laptop** profile" in both
    assert "[the published book](https://x.github.io/y/)" in both
    assert "Every other number on this page comes from this book's own run, the **smoke** profile" in both


def test_a_run_without_the_new_floors_says_what_it_lacks(tmp_path):
    write_run(tmp_path / "book", "laptop", "2026-11-22", floors_metrics=("srgb_loss", "delta_e2000"))
    assert "no MS-SSIM of the floor" in verdict.box_markdown(tmp_path)
    assert "hold no ms_ssim or uiqi" in findings.floors_markdown(verdict.Run.load(tmp_path / "book"))


def test_the_srgb_reading_follows_the_measured_pairs(tmp_path):
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    reading = verdict.srgb_reading(verdict.Run.load(tmp_path / "book"))
    assert reading["reading"] == "as printed" and reading["divided"] == pytest.approx(3 * reading["printed"])


def test_a_run_without_results_is_refused_with_what_is_missing(tmp_path):
    (tmp_path / "book" / "results").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        verdict.box_markdown(tmp_path)


def test_the_execution_record_explains_a_stage_run_again_after_later_ones():
    record = {"stages": {"04_train_dve": {"date": "2026-11-22T08:22:03", "reused": True,
                                          "computed_date": "2026-11-22T06:46:16"},
                         "05_embedded_dataset": {"date": "2026-11-22T06:53:15"},
                         "07_evaluate": {"date": "2026-11-22T08:18:59"}}}
    note = book.reruns(record)
    assert "`04_train_dve` finished after `05_embedded_dataset`, `07_evaluate`" in note and "reused" in note
    record["stages"]["04_train_dve"]["date"] = "2026-11-22T06:40:00"
    assert book.reruns(record) == ""


def test_the_best_model_at_the_budget_is_named_beside_the_floor_and_the_goals(tmp_path, monkeypatch):
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    run = verdict.Run.load(tmp_path / "book")
    assert verdict.CLUSTERED in run.comparison.index  # chapter 7's table closes with the ceiling and floors,
    said = findings.best_beside_floor(run)  # which are no models (the ceiling's MS-SSIM is the highest)
    assert "*The best model at this budget is the convolutional U-Net*" in said
    assert "MS-SSIM 0.8700 and sRGB loss 0.1600, 1.60 times the per-pixel oracle floor of 0.1000" in said
    assert "within 1.3x the floor (not met)" in said and "at least 0.9 (not met)" in said
    assert "two goals (defined above)" in said
    goals = findings.goals_markdown(run)  # what the results page says above the findings
    assert "within 1.3 times the per-pixel oracle floor" in goals and "reaches 0.9150" in goals
    monkeypatch.setattr(findings, "threshold_sentence", lambda run: "")  # chapter 3's glue: not written here
    page = findings.findings_markdown(tmp_path)
    assert page.index(goals) < page.index("two goals (defined above)")  # defined before it is used
    write_run(tmp_path / "other", "laptop", "2026-11-22", models=comparison(unet=(0.91, 0.12)))
    said = findings.best_beside_floor(verdict.Run.load(tmp_path / "other"))
    assert "1.20 times" in said and "(met)" in said and "not met" not in said


def study_file(root, profile, points):
    fit_file(root, profile)
    (root / "book" / "scaling" / "study.json").write_text(json.dumps({"points": points}))


def point(model, images, ms, loss, status="ok"):
    return {"model": model, "train_images": images, "status": status, "epochs_run": 9, "train_tflop": 31.9,
            "test": {"ms_ssim": {"mean": ms}, "srgb_loss": {"mean": loss}}}


def test_the_scaling_studys_best_point_is_named_beside_the_floor_only_for_the_runs_own_profile(tmp_path):
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    run = verdict.Run.load(tmp_path / "book")
    assert findings.best_in_study(run, tmp_path) is None  # no study filed
    study_file(tmp_path, "smoke", [point("U-Net", 67, 0.95, 0.11)])
    assert findings.best_in_study(run, tmp_path) is None  # another profile's study says nothing of this run
    study_file(tmp_path, "laptop", [point("SmallUViT", 1119, 0.81, 0.19), point("per-pixel MLP", 560, 0.86, 0.17),
                                    {"model": "U-Net", "train_images": 1119, "status": "failed", "reason": "nan"}])
    said = findings.best_in_study(run, tmp_path)
    assert said.startswith("*The scaling study's best point is the per-pixel MLP* on 560 training images (9 epochs")
    assert "MS-SSIM 0.8600 and sRGB loss 0.1700, 1.70 times the per-pixel oracle floor" in said


def test_the_box_gives_the_paper_scoring_beside_the_books_and_why_validation_differs(tmp_path):
    from xrfnb.evaluation import like_for_like

    write_run(tmp_path / "book", "laptop", "2026-11-22")
    assert "px crops at" not in verdict.box_markdown(tmp_path)  # a run without the larger crops
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(17), 3)
    book = {"ms_ssim": 0.8 + rng.normal(0, 0.02, 51), "srgb_loss": 0.19 + rng.normal(0, 0.01, 51)}
    target = torch.from_numpy(rng.random((2, 3, 256, 256)).astype(np.float32))
    pred = (target + 0.1 * torch.randn(2, 3, 256, 256)).clamp(0, 1).numpy()
    table = like_for_like.table(book, groups, 128, pred, target, np.array([0, 1]))
    gap = like_for_like.split_gap(book["ms_ssim"] - 0.03, groups + 50, book["ms_ssim"], groups)
    result_files.write_like_for_like(tmp_path / "book" / "results", table, gap, like_for_like.gap_sentence(gap))
    box = verdict.box_markdown(tmp_path)
    large = table.loc[verdict.PAPER_SCORING]
    assert "the book's 128 px test crops at 4 scales" in box and "256 px crops at 5 scales" in box
    assert f"{large['ms_ssim']:.4f} ({large['ms_ssim low']:.4f} to {large['ms_ssim high']:.4f})" in box
    assert like_for_like.gap_sentence(gap) in box


def test_the_findings_show_the_budget_its_sentence_and_its_figure_once_drawn(tmp_path, monkeypatch):
    from xrfnb.evaluation import colour_budget

    write_run(tmp_path / "book", "laptop", "2026-11-22")
    monkeypatch.setattr(findings, "threshold_sentence", lambda run: "")  # chapter 3's glue: not written here
    assert "no information budget" in findings.findings_markdown(tmp_path)
    rows = [{"rung": name, "kind": "oracle", "ms_ssim": m, "ms_ssim low": m - 0.01, "ms_ssim high": m + 0.01,
             "srgb_loss": 1 - m, "srgb_loss low": 0.99 - m, "srgb_loss high": 1.01 - m, "pixels": 0, "seconds": 1.0}
            for name, m in (("the ceiling", 0.96), ("an oracle", 0.91), ("a model", 0.85))]
    table = colour_budget.ladder(rows)
    result_files.write_colour_budget(tmp_path / "book" / "results", table, colour_budget.sentence(table))
    page = findings.findings_markdown(tmp_path)
    assert colour_budget.sentence(table) in page and "| an oracle | oracle | 0.9100 (0.9000 to 0.9200) |" in page
    assert "{figure}" not in page
    (tmp_path / "book" / "figures").mkdir()
    (tmp_path / "book" / "figures" / result_files.BUDGET_FIGURE).write_bytes(b"")
    assert f"{{figure}} figures/{result_files.BUDGET_FIGURE}" in findings.findings_markdown(tmp_path)


def test_the_box_says_whether_chapter_6_stopped_by_its_rule_or_ran_out_of_epochs():
    from types import SimpleNamespace

    stopped = SimpleNamespace(glue={"uvit_epochs": "53", "uvit_max_epochs": "100"})
    ran_out = SimpleNamespace(glue={"uvit_epochs": "45", "uvit_max_epochs": "45"})
    assert verdict.how_trained(stopped).startswith("Trained to its stopping rule")
    assert "all 45 epochs it was given" in verdict.how_trained(ran_out)
    assert "stopping rule did not end it" in verdict.how_trained(ran_out)


def test_the_results_page_tables_leave_out_columns_that_hold_one_value(tmp_path):
    pd.DataFrame({"model": ["a", "b", "floor"], "profile": ["laptop", "laptop", ""], "ms_ssim": [0.8, 0.7, 0.9],
                  "test paintings": [17, 17, 17]}).to_csv(tmp_path / result_files.COMPARISON, index=False)
    result_files.write_page_tables(tmp_path)
    shown = pd.read_csv(tmp_path / result_files.PAGE_TABLES[result_files.COMPARISON])
    assert list(shown.columns) == ["model", "ms_ssim"]
    assert shown["ms_ssim"].tolist() == [0.8, 0.7, 0.9]
    assert not (tmp_path / result_files.PAGE_TABLES[result_files.PAPER_TABLE]).exists()  # no run file, no copy


def test_the_box_says_what_the_embedding_costs_once_photons_are_pooled_where_the_run_measured_it(tmp_path):
    """Chapter 7's embedding sizes (issue 34): perfect pooling of the run's latent and the pooled decoder on
    it and on the largest PCA, each with its interval; a run without the table says nothing of it."""
    from xrfnb.evaluation import embedding_sizes as es

    write_run(tmp_path / "book", "laptop", "2026-11-22")
    assert not any("*The embedding" in c for c in verdict.causes(verdict.Run.load(tmp_path / "book"),
                                                                 verdict.paper()["training"]))
    rows = []
    for name, dims, base in (("DVE, 3-D (the paper's)", 3, 0.88), ("PCA-8", 8, 0.90)):
        row = {"embedding": name, "dimensions": dims, "seconds": 1.0}
        for k, model in enumerate(es.MODELS):
            m = f"{model} ms_ssim"
            row.update({m: base + k / 100, f"{m} low": base - 0.02, f"{m} high": base + 0.03,
                        **{f"{model} srgb_loss{s}": 0.1 for s in ("", " low", " high")}})
        rows.append(row)
    result_files.write_embedding_sizes(tmp_path / "book" / "results", es.table(rows), {}, "", 1.0)
    said = [c for c in verdict.causes(verdict.Run.load(tmp_path / "book"), verdict.paper()["training"])
            if c.startswith("*The embedding")]
    assert len(said) == 1
    assert "a per-pixel MLP reaches an MS-SSIM of 0.8900 (0.8600 to 0.9100)" in said[0]  # perfect pooling, DVE
    assert "a PCA of the spectra with 8 components (PCA-8) scores 0.9300 (0.8800 to 0.9300)" in said[0]
    assert "latent, “DVE, 3-D (the paper's)”, a per-pixel MLP" in said[0]
    assert "against 0.9100 (0.8600 to 0.9100) on the run's latent" in said[0]
    run = verdict.Run.load(tmp_path / "book")  # the results page: the table, and the best row against the goals
    page = findings.sizes_markdown(tmp_path, run)
    assert "| embedding | dimensions | latent oracle | perfect pooling | per-pixel MLP | pooled decoder |" in page
    assert "| PCA-8 | 8 | 0.9000 [0.8800, 0.9300] | 0.9100 [0.8800, 0.9300]" in page
    best = findings.best_of_sizes(run)
    assert best.startswith("*The pooled decoder on PCA-8*") and "MS-SSIM 0.9300" in best
    assert "an MS-SSIM of at least 0.9 (met)" in best


def test_the_results_page_shows_the_recipe_study_of_the_runs_own_profile_with_its_reading(tmp_path):
    """SmallUViT's recipe study (issue 34): its table and each variant read against the paper's recipe's
    interval, only where the study ran on the run's profile."""
    write_run(tmp_path / "book", "laptop", "2026-11-22")
    run = verdict.Run.load(tmp_path / "book")
    assert findings.recipe_markdown(tmp_path / "benchmarks" / "results", run) is None  # no study filed
    found = {"paper": (16, {}, 0.72, 0.67, 0.76), "batch4_pixel": (4, {"pixel_path": "mlp"}, 0.86, 0.82, 0.88),
             "batch4": (4, {}, 0.73, 0.69, 0.78)}
    variants = {name: {"batch": b, **extra, "epochs": 4, "steps": 4 * 1120 // b, "train_seconds": 1.0,
                       "val_ms_ssim_best": ms - 0.02, "val_ms_ssim_curve": [ms - 0.02], "test_ms_ssim": ms,
                       "test_ms_ssim_low": lo, "test_ms_ssim_high": hi, "test_srgb_loss": 0.2}
                for name, (b, extra, ms, lo, hi) in found.items()}
    study = tmp_path / "benchmarks" / "results" / "recipe.json"
    study.parent.mkdir(parents=True)
    study.write_text(json.dumps({"run": "smoke", "epochs": 4, "machine": "CPU", "variants": variants}))
    assert findings.recipe_markdown(tmp_path / "benchmarks" / "results", run) is None  # another profile's study answers nothing here
    study.write_text(json.dumps({"run": "laptop", "epochs": 4, "machine": "CPU", "variants": variants}))
    page = findings.recipe_markdown(tmp_path / "benchmarks" / "results", run)
    assert "| batch4_pixel | 4 | pixel_path mlp | 1,120 | 0.8400 | 0.8600 (0.8200 to 0.8800) | 0.2000 |" in page
    assert "| paper | 16 | none | 280 |" in page
    assert "`batch4`: 0.7300 against 0.7200, a difference of +0.0100, inside" in page
    assert "`batch4_pixel`: 0.8600 against 0.7200, a difference of +0.1400, outside" in page
