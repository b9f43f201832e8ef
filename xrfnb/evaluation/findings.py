"""The results page's findings: the data's ceiling and floors, the information budget, the paper's scoring
like for like, which reading of the sRGB loss, and what the tables say, written from a run's result files.

They read the run as the verdict box does (`verdict.Run`); every number comes from its files, none is typed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import locations, prose, result_files
from .compared import PIXEL_RECIPE
from .compared import POOLED as POOLED_DECODER
from ..io import read_json
from .verdict import CLUSTERED, LOOKUP, ORACLE, POOLED, Run, _range, causes, paper, srgb_reading


def floors_markdown(run: Run) -> str:
    """The data's ceiling and floors beside SmallUViT, as a Markdown table of the metrics the run measured."""
    columns = [c for c in ("srgb_loss", "delta_e2000", "ms_ssim", "uiqi") if c in run.floors.columns]
    rows = [("SmallUViT (chapter 6)", {c: run.metrics.get(c) for c in columns}),
            *((name, row.to_dict()) for name, row in run.floors.iterrows())]
    head = "| | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns)
    body = "\n".join(f"| {name} | " + " | ".join("—" if v.get(c) is None or pd.isna(v.get(c)) else f"{v[c]:.4f}" for c in columns) + " |"
                     for name, v in rows)
    missing = [c for c in ("ms_ssim", "uiqi") if c not in columns]
    note = (f" This run's floors hold no {' or '.join(missing)}: chapter 7 measures them from its next run on."
            if missing else "")
    return f"{head}\n{body}\n\nMeasured on the same {run.metrics['n_test']} test crops as SmallUViT.{note}\n"


def threshold_sentence(run: Run) -> str:
    """What chapter 3's sensitivity table says about the run's threshold (its glued sentence, or its numbers)."""
    g = run.glue
    if "threshold_note" in g:
        return f"In chapter 3's sensitivity table, {g['threshold_note']}."
    best, used = float(g["best_threshold"]), float(g["threshold"])
    if best == used:
        return f"Chapter 3's sensitivity table finds the lowest per-pixel floor at this run's threshold, {used:.2f}."
    return (f"Chapter 3's sensitivity table finds the lowest per-pixel floor at {best:.2f}, not at this run's "
            f"{used:.2f}. The default stays {used:.2f}: it was fixed on an earlier, smaller measurement, and "
            f"changing it regenerates every cube and moves every result of the book; `--set threshold={best:g}` "
            f"runs the other choice.")


#: Goals beyond the paper for the best model at a profile's budget [choice]: an sRGB loss within this factor
#: of the per-pixel oracle floor, and at least this MS-SSIM (the oracle reaches about 0.915 on 128 px crops,
#: the clustered image about 0.958; a model that uses its neighbours can pass the first, none the second).
FLOOR_FACTOR_GOAL, MS_SSIM_GOAL = 1.3, 0.90


def best_beside_floor(run: Run) -> str | None:
    """The best model of chapter 7's table (highest test MS-SSIM) beside the per-pixel floor and the goals."""
    models = run.comparison.loc[[m for m in run.comparison.index if m not in run.floors.index]]
    floor = run.floor(ORACLE, "srgb_loss")
    if models.empty or floor is None or "ms_ssim" not in models or models["ms_ssim"].isna().all():
        return None
    name = models["ms_ssim"].astype(float).idxmax()
    best = models.loc[name]
    epochs, steps = run.glue.get("compare_epochs"), run.glue.get("pooled_steps")
    budget = (f"{int(steps):,d} steps of the pixel recipe, " if name in (POOLED_DECODER, PIXEL_RECIPE) and steps else
              f"{epochs} epochs, " if epochs else "")
    return (f"*The best model at this budget is the {name}* ({budget}chapter 7's "
            f"table): {_against_goals(float(best['ms_ssim']), float(best['srgb_loss']), floor)}")


def best_in_study(run: Run, root: Path) -> str | None:
    """The scaling study's best finished point (highest test MS-SSIM, same test set) when the study filed in
    `book/scaling/` is on this run's profile, beside the per-pixel floor and the goals."""
    study, fit = root / "book" / "scaling" / "study.json", root / "book" / "scaling" / "fit.json"
    floor = run.floor(ORACLE, "srgb_loss")
    if floor is None or not study.exists() or not fit.exists() or read_json(fit).get("profile") != run.profile:
        return None
    done = [p for p in read_json(study)["points"] if p["status"] == "ok"]
    if not done:
        return None
    best = max(done, key=lambda p: p["test"]["ms_ssim"]["mean"])
    return (f"*The scaling study's best point is the {best['model']}* on {best['train_images']:,} training images "
            f"({best['epochs_run']} epochs, {best['train_tflop']:.1f} TFLOP): "
            f"{_against_goals(best['test']['ms_ssim']['mean'], best['test']['srgb_loss']['mean'], floor)}")


def best_of_sizes(run: Run) -> str | None:
    """The pooled decoder on the largest embedding of chapter 7's embedding sizes, beside the floor and the goals."""
    from .embedding_sizes import POOLED as SIZES_POOLED

    floor = run.floor(ORACLE, "srgb_loss")
    if len(run.sizes) < 2 or floor is None:
        return None
    row = run.sizes.iloc[-1]
    return (f"*The pooled decoder on {run.sizes.index[-1]}* (chapter 7, section 8b; trained on "
            f"{run.glue.get('sizes_images', 'the first')} training images): "
            f"{_against_goals(float(row[f'{SIZES_POOLED} ms_ssim']), float(row[f'{SIZES_POOLED} srgb_loss']), floor)}")


def sizes_markdown(root: Path, run: Run) -> str:
    """Chapter 7's embedding sizes (`embedding_sizes.shown`) as a Markdown table, with their sentence."""
    from .embedding_sizes import MODELS, shown

    if run.sizes.empty:
        return "This run did not compare embedding sizes: chapter 7 measures them from its next run on.\n"
    table = shown(run.sizes)
    rows = "\n".join(f"| {name} | {int(r['dimensions'])} | " + " | ".join(r[m] for m in MODELS) + " |"
                      for name, r in table.iterrows())
    said = result_files.read_embedding_sizes(root / "book" / "results")[1].get("sentence", "")
    return (f"| embedding | dimensions | {' | '.join(MODELS)} |\n|---|---:|{'---|' * len(MODELS)}\n{rows}\n\n"
            f"Test MS-SSIM with 95 % intervals over the test paintings. {said}\n")


def recipe_markdown(studies: Path, run: Run) -> str | None:
    """SmallUViT's recipe study (`benchmarks/bench_recipe.py`, its file in the folder `studies`) where it ran
    on this run's profile: a table of its variants and each variant's test MS-SSIM read against the paper's
    recipe at the same epochs."""
    path = Path(studies) / "recipe.json"
    if not path.exists() or read_json(path).get("run") != run.profile:
        return None
    study = read_json(path)
    found = study["variants"]
    rows = "\n".join(f"| {name} | {v['batch']} | {_changes(v)} | {v['steps']:,d} | {v['val_ms_ssim_best']:.4f} | "
                      f"{_range(v['test_ms_ssim'], v['test_ms_ssim_low'], v['test_ms_ssim_high'])} | "
                      f"{v['test_srgb_loss']:.4f} |" for name, v in found.items())
    base = found.get("paper")
    gains = "; ".join(f"`{name}`: " + prose.versus(v["test_ms_ssim"], base["test_ms_ssim"],
                                                  (base["test_ms_ssim_low"], base["test_ms_ssim_high"]))
                      for name, v in found.items() if name != "paper") if base else ""
    return (f"Every variant trained the paper's architecture for {study['epochs']} epochs on this run's "
            f"embedded data (the same images seen, about the same compute), changing one thing at a time "
            f"(`benchmarks/bench_recipe.py`, on {study['machine']}): a smaller batch (more optimiser steps), then "
            f"a warm-up and cosine decay, or the full-resolution per-pixel path beside the tokens (an "
            f"architecture change).\n\n"
            f"| variant | batch | other changes | optimiser steps | best validation MS-SSIM | test MS-SSIM "
            f"(95 % interval) | test sRGB loss |\n|---|---:|---|---:|---:|---|---:|\n{rows}\n\n"
            + (f"Test MS-SSIM against the paper's recipe at the same epochs: {gains}.\n" if gains else ""))


#: What a recipe study's variant records beside its results (`bench_recipe.py`), not a change of recipe.
_RECORDED = {"batch", "epochs", "steps", "train_seconds", "val_ms_ssim_best", "val_ms_ssim_curve", "test_ms_ssim",
             "test_ms_ssim_low", "test_ms_ssim_high", "test_srgb_loss"}


def _changes(variant: dict) -> str:
    """A recipe variant's changes to the paper's configuration beside its batch, as `key value` pairs."""
    return ", ".join(f"{k} {v}" for k, v in variant.items() if k not in _RECORDED) or "none"


def _against_goals(ms_ssim: float, loss: float, floor: float) -> str:
    """A model's test numbers, its loss as a multiple of the per-pixel floor, and the goals met or not."""
    ratio = loss / floor

    def met(ok: bool) -> str:
        return "met" if ok else "not met"

    return (f"MS-SSIM {ms_ssim:.4f} and sRGB loss {loss:.4f}, {ratio:.2f} times the per-pixel oracle floor of "
            f"{floor:.4f}. Against this book's two goals (defined above), a loss within {FLOOR_FACTOR_GOAL}x the "
            f"floor ({met(ratio <= FLOOR_FACTOR_GOAL)}) and an MS-SSIM of at least {MS_SSIM_GOAL} "
            f"({met(ms_ssim >= MS_SSIM_GOAL)}).")


def goals_markdown(run: Run) -> str:
    """What the goals that `_against_goals` reads are, from the floor table the page shows above them."""
    floor, pooled = run.floor(ORACLE, "srgb_loss"), run.floor(POOLED, "srgb_loss")
    oracle, clustered = run.floor(ORACLE, "ms_ssim"), run.floor(CLUSTERED, "ms_ssim")
    near = (f" (the oracle that pools 3 x 3 neighbours stands at {pooled / floor:.2f} times it)"
            if floor and pooled is not None else "")
    reach = (f" (the per-pixel oracle of the table above reaches {oracle:.4f}, the clustered image "
             f"{clustered:.4f})" if oracle is not None and clustered is not None else "")
    return (f"Beside matching the paper, this book measures its models against two goals of its own, both read "
            f"from the data's floor: an sRGB loss within {FLOOR_FACTOR_GOAL} times the per-pixel oracle floor "
            f"of the table above{near}, and an MS-SSIM of at least {MS_SSIM_GOAL}{reach}.\n")


def _direction(run: Run, row: pd.Series, base: pd.Series) -> str:
    """Whether `row` scores measurably "worse" or "better" than `base` (MS-SSIM and loss outside the
    headline's 95 % intervals, which are `base`'s own when `base` is the test set as trained), "mixed"
    when the two measures disagree, or "none"."""
    ms_out = not prose.inside(row["ms_ssim"], run.interval("ms_ssim")[1:])
    loss_out = not prose.inside(row["srgb_loss"], run.interval("srgb_loss")[1:])
    worse = (ms_out and row["ms_ssim"] < base["ms_ssim"]) or (loss_out and row["srgb_loss"] > base["srgb_loss"])
    better = (ms_out and row["ms_ssim"] > base["ms_ssim"]) or (loss_out and row["srgb_loss"] < base["srgb_loss"])
    return "mixed" if worse and better else "worse" if worse else "better" if better else "none"


def _scores(run: Run, row: pd.Series, base: pd.Series) -> str:
    """Both measures of `row` against `base`, each with whether the difference is inside the interval."""
    return (f"an MS-SSIM of {prose.versus(row['ms_ssim'], base['ms_ssim'], run.interval('ms_ssim')[1:])}, and a "
            f"loss of {prose.versus(row['srgb_loss'], base['srgb_loss'], run.interval('srgb_loss')[1:])}")


def _more_photons(run: Run, at1600: pd.Series, at400: pd.Series) -> str:
    """The test set drawn with 1,600 counts per pixel against the 400 it was trained on. At 400 the cubes
    are the test set's own, so the headline's intervals (over the test paintings) are theirs."""
    found = _direction(run, at1600, at400)
    lead = {"worse": "More photons score worse", "better": "More photons help",
            "mixed": "More photons move the two measures apart",
            "none": "More photons change nothing measurable"}[found]
    shift = {"worse": " that costs more than the evidence gains",
             "none": ", one this test set cannot tell from the spread over its paintings"}.get(found, "")
    return (f"*{lead}.* Drawn with 1,600 counts per pixel instead of the 400 it was trained on, the same test "
            f"set scores {_scores(run, at1600, at400)}. The DVE and SmallUViT saw only 400-count spectra in "
            f"training, and to them more photons are a shift of their input{shift}.")


def _physics(run: Run, row: pd.Series, base: pd.Series) -> str:
    """Physics mixing of the compositions against the mixing the model was trained on."""
    found = _direction(run, row, base)
    lead = {"worse": "Physics mixing breaks the model", "better": "Physics mixing helps the model",
            "mixed": "Physics mixing moves the two measures apart",
            "none": "Physics mixing changes nothing measurable"}[found]
    reading = (" A model trained on linear mixtures does not transfer to spectra that mix as real paint layers "
               "do, the first obstacle for measured scans." if found == "worse" else "")
    return (f"*{lead}.* When the cubes' mixture spectra come from mixing the pigments' compositions instead of "
            f"their spectra, the test set scores {_scores(run, row, base)}.{reading}")


def _interval_cell(row: pd.Series, metric: str) -> str:
    return _range(row[metric], row[f"{metric} low"], row[f"{metric} high"])


def budget_markdown(run: Run, figure: Path | None = None) -> str:
    """The information budget (`colour_budget.ladder`) as the results page shows it: its sentence, its
    figure where chapter 7 drew it (`figure`, a path relative to the page), and a table of its rungs."""
    if run.budget.empty:
        return "This run has no information budget: chapter 7 measures it from its next run on.\n"
    rows = "\n".join(f"| {name} | {r['kind']} | {_interval_cell(r, 'ms_ssim')} | {_interval_cell(r, 'srgb_loss')} |"
                      for name, r in run.budget.iterrows())
    shown = (f"```{{figure}} {figure}\n:alt: Test MS-SSIM of every rung of the information budget, from the data's "
             f"ceiling down to the paper's model, with 95 % intervals.\n\nWhere the colour goes: test MS-SSIM of "
             f"each rung (bars: 95 % intervals over test paintings); the arrow marks the largest loss.\n```\n"
             if figure else "")
    return (f"{run.budget_sentence}\n\n{shown}\n| rung | kind | MS-SSIM (95 % interval) | sRGB loss (95 % interval) |"
            f"\n|---|---|---|---|\n{rows}\n\nThe whole ladder, with each rung's drop from the one above and its "
            f"cost in seconds, is `results/colour_budget.csv`.\n")


def like_markdown(run: Run) -> str:
    """The paper's scoring beside the book's (`like_for_like.table`) and why validation and test differ."""
    if run.like.empty:
        return "This run did not score larger crops: chapter 7 measures them from its next run on.\n"
    rows = "\n".join(f"| {name} | {int(r['crop px'])} | {int(r['MS-SSIM scales'])} | {int(r['crops'])} | "
                      f"{_interval_cell(r, 'ms_ssim')} | {_interval_cell(r, 'srgb_loss')} |"
                      for name, r in run.like.iterrows())
    return ("| scoring | crop px | MS-SSIM scales | crops | MS-SSIM (95 % interval) | sRGB loss (95 % interval) |\n"
            f"|---|---:|---:|---:|---|---|\n{rows}\n\nThe larger crops are predicted in tiles of the size "
            f"SmallUViT was trained at, side by side, and stitched. {run.gap.get('sentence', '')}\n")


def findings_markdown(root: Path, studies: Path | None = None) -> str:
    """The results page's reading of the sRGB loss and its findings in words, for this book's own run (under
    `root`, the project or the published book's source copy); the benchmarks' files are read from `studies`
    (default: the project's `benchmarks/results`, which a source copy does not hold)."""
    studies = studies or locations.project_root() / "benchmarks" / "results"
    run = Run.load(root / "book")
    r = srgb_reading(run)
    p = paper()["metrics"]
    lines = [
        "## What the data allow\n",
        "How much colour the synthetic cubes carry is a property of the data, measured before any model is "
        "trained (chapter 3) and again on chapter 7's test crops. The clustered image the cubes were drawn from "
        "is the most any model can recover (every pixel of a cluster draws from one mixture); the oracle that "
        "knows the true mixtures and decodes each pixel's counts to its most likely cluster is the best any "
        "per-pixel model can do:\n",
        floors_markdown(run),
        threshold_sentence(run) + "\n",
        "## Where the colour goes\n",
        "An information budget, measured on the same test crops: each rung knows or keeps less than the one "
        "above it, from the data's ceiling through a noise-free decoder, the oracles on the counts and on the "
        "DVE's latent and per-pixel decoders trained on the spectrum and on the latent, down to the book's "
        "models and the paper's (chapter 7, section 8, defines every rung).\n",
        budget_markdown(run, Path("figures") / result_files.BUDGET_FIGURE
                        if (root / "book" / "figures" / result_files.BUDGET_FIGURE).exists()
                        else None),
        "## How many numbers a pixel\n",
        "The budget's latent rungs decode the DVE's three numbers a pixel. The same decoders on a PCA of the "
        "spectra with more components, and perfect pooling (each pixel given its true segment's mean latent, "
        "the most any pooling of that latent can give), on the same test crops (chapter 7, section 8b):\n",
        sizes_markdown(root, run),
        "## Recipe or architecture\n",
        recipe_markdown(studies, run) or "No recipe study of SmallUViT ran on this run's profile "
        "(`benchmarks/bench_recipe.py`).\n",
        "## The paper's scoring, like for like\n",
        "The paper scores 256 px images with five-scale MS-SSIM; the book's crops allow fewer scales. Crops of "
        "the larger size from the same test paintings, scored both ways:\n",
        like_markdown(run),
        "## Which reading of the sRGB loss\n",
        f"The paper defines its loss as the CompuPhase redmean distance itself, on channels in [0, 1], with no "
        f"normalising factor in the formula; that distance runs from 0 to 3 (black against white). Its two "
        f"numbers also have to fit together. Over the {r['pairs']} pairs of (MS-SSIM, loss) this run measured "
        f"(SmallUViT, the baselines and ablations, every robustness setting; MS-SSIM from {r['ms_range'][0]:.3f} "
        f"to {r['ms_range'][1]:.3f}), a straight line puts the paper's MS-SSIM of {r['paper_ms_ssim']:.4f} at a "
        f"loss of {r['expected']:.4f}. Read as printed, the paper's loss is {r['printed']:.4f}; read as divided "
        f"by 3, it stands for {r['divided']:.4f} on the scale used here, which the same line pairs with an "
        f"MS-SSIM of {r['ms_ssim_at_divided']:.3f}, not {r['paper_ms_ssim']:.4f}. **The verdict therefore reads "
        f"the loss {r['reading']}**; the table above keeps the other reading beside it "
        f"(`srgb_loss / 3`), under which this run's {run.interval('srgb_loss')[0]:.4f} would read "
        f"{run.interval('srgb_loss')[0] / 3:.4f} against the paper's {p['srgb_loss']['value']:.4f}.\n",
        "## What the tables say\n",
    ]
    said = [b for b in (best_beside_floor(run), best_of_sizes(run), best_in_study(run, root)) if b]
    if said:
        lines.append(goals_markdown(run))
    if LOOKUP in run.comparison.index:
        said += [c for c in causes(run, paper()["training"]) if c.startswith("*The model adds")]
    if {400, 1600} <= set(run.counts.index) and "ms_ssim" in run.counts.columns:
        said.append(_more_photons(run, run.counts.loc[1600], run.counts.loc[400]))
    physics = "physics mixing of compositions"
    if physics in run.options.index:
        said.append(_physics(run, run.options.loc[physics], run.options.iloc[0]))
    lines += [f"- {s}" for s in said] or ["This run's tables hold no comparison or robustness results."]
    return "\n".join(lines) + "\n"
