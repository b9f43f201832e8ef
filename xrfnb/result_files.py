"""A run's result files (`book/results/`): each written by one function here and read back by one, so
that their format is defined once, for the chapters that write them, the verdict that reads them and the
tests that make them. Every file is written atomically (a temporary name, then renamed).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .evaluation.compared import COMPARED, PAPER, RECORDED, at_budget
from .io import atomic_path, read_json, write_json

DVE_METRICS = "dve_metrics.json"
METRICS = "metrics.json"
PAPER_TABLE = "paper_vs_reproduced.csv"
FLOORS = "floors.csv"
COMPARISON = "baselines_ablations.csv"
SCALING = "scaling.json"
DIAGNOSIS_TABLE, DIAGNOSIS = "diagnosis.csv", "diagnosis.json"
COUNTS, OPTIONS = "robustness_counts.csv", "robustness_options.csv"
COLOUR_BUDGET = "colour_budget.csv"
BUDGET_FIGURE = "07_budget.png"  # chapter 7's figure of the budget, under `book/figures/`
LIKE_FOR_LIKE, SPLIT_GAP = "like_for_like.csv", "split_gap.json"
EMBEDDING_SIZES = "embedding_sizes.csv"
#: The files of chapter 7 without which a run has no verdict.
REQUIRED = (METRICS, PAPER_TABLE, COMPARISON, FLOORS)


def _write_csv(frame: pd.DataFrame, path: Path, index: bool = True) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index)


def write_dve_metrics(folder: Path, report: dict) -> None:
    """Chapter 4: the latent space's measures and the DVE's training speed (`dve.evaluate_latent` and more)."""
    write_json(Path(folder) / DVE_METRICS, report)


def write_test_metrics(folder: Path, table: pd.DataFrame, means: dict[str, float], profile: str, n_test: int,
                       n_test_paintings: int) -> None:
    """Chapter 7's test metrics: the paper's table beside this run's (`evaluate.paper_vs_reproduced`,
    rounded to 4 digits) and every metric's mean over the test images with the test set's size."""
    folder = Path(folder)
    _write_csv(table.round(4), folder / PAPER_TABLE, index=False)
    write_json(folder / METRICS, {**means, "profile": profile, "n_test": int(n_test),
                                  "n_test_paintings": int(n_test_paintings)})


def write_floors(folder: Path, floors: pd.DataFrame) -> None:
    """The data's ceiling and floors on the test crops (`evaluate.floors`), one row per model."""
    _write_csv(floors, Path(folder) / FLOORS)


def write_comparison(folder: Path, comparison: pd.DataFrame, floors: pd.DataFrame, profile: str,
                     epochs: int) -> pd.DataFrame:
    """Chapter 7's table of compared models (`evaluate.compare`) with the run's profile, the paper's
    SmallUViT named with its budget, and the data's ceiling and floors below; written rounded to 4
    digits, and returned as it is."""
    named = comparison.rename(index={PAPER: at_budget(epochs)})
    named.insert(0, "profile", profile)
    table = pd.concat([named, floors]).astype({"parameters": "Int64"})
    _write_csv(table.round(4), Path(folder) / COMPARISON)
    return table


def scaling_record(profile: str, train_images: int, image_size: int, comparison: pd.DataFrame, epochs: int,
                   curves: dict[str, list[float]], *, train_paintings: int) -> dict:
    """The run's scaling record: its training data (crops, and the paintings of the training split they
    come from), and for each model of `compared.RECORDED` (by its short name) the epochs it trained, its
    test MS-SSIM and sRGB loss (rows of `comparison`) and its validation MS-SSIM per epoch (`curves`, by
    the model's name)."""
    return {"profile": profile, "train_images": int(train_images), "train_paintings": int(train_paintings),
            "image_size": int(image_size),
            "models": {COMPARED[name].short: {"epochs": int(epochs),
                                              "ms_ssim": float(comparison.loc[name, "ms_ssim"]),
                                              "srgb_loss": float(comparison.loc[name, "srgb_loss"]),
                                              "val_ms_ssim": [float(v) for v in curves[name]]}
                       for name in RECORDED}}


def write_scaling(folder: Path, record: dict) -> None:
    """The run's scaling record (`scaling_record`)."""
    write_json(Path(folder) / SCALING, record)


def file_scaling_record(folder: Path, scaling_dir: Path, run: dict) -> Path:
    """File the scaling record of the run in `folder` as `scaling_dir/<profile>.json`, with the device
    and date of its run record `run` (what `xrfnb publish` keeps of every published run)."""
    source = Path(folder) / SCALING
    if not source.exists():
        raise FileNotFoundError(f"{source}: no scaling record (the evaluation stage writes it)")
    data = read_scaling(folder)
    data["device"], data["date"] = run["device"], run["date"]
    target = Path(scaling_dir) / f"{data['profile']}.json"
    write_json(target, data)
    return target


def write_diagnosis(folder: Path, summary: pd.DataFrame, cause: str, grid: dict, profile: str, epochs: int) -> None:
    """Where the error comes from: the table (`diagnosis.summary`), and the sentence naming the dominant
    cause with the patch grid's numbers (`diagnosis.patch_grid`, without its map)."""
    folder = Path(folder)
    _write_csv(summary, folder / DIAGNOSIS_TABLE, index=False)
    write_json(folder / DIAGNOSIS, {"profile": profile, "compare_epochs": epochs, "sentence": cause,
                                    **{k: v for k, v in grid.items() if k != "map"}})


def write_robustness(folder: Path, by_counts: pd.DataFrame, by_option: pd.DataFrame) -> None:
    """The test metrics by counts per pixel and by generator setting (`evaluate.robustness`)."""
    _write_csv(by_counts, Path(folder) / COUNTS)
    _write_csv(by_option, Path(folder) / OPTIONS)


def write_colour_budget(folder: Path, ladder: pd.DataFrame, sentence: str) -> None:
    """Where the colour goes (`colour_budget.ladder`, rounded to 4 digits), its sentence beside it as JSON."""
    folder = Path(folder)
    _write_csv(ladder.round(4), folder / COLOUR_BUDGET)
    write_json(folder / COLOUR_BUDGET.replace(".csv", ".json"), {"sentence": sentence})


def write_embedding_sizes(folder: Path, table: pd.DataFrame, gains: dict, sentence: str, seconds: float) -> None:
    """The budget's decoders at other embedding sizes (`embedding_sizes.table`, rounded to 4 digits), and
    beside it as JSON the pooled decoder's paired gains (`embedding_sizes.gains`), their sentence and the
    seconds the comparison took (for the profile's time plan)."""
    folder = Path(folder)
    _write_csv(table.round(4), folder / EMBEDDING_SIZES)
    write_json(folder / EMBEDDING_SIZES.replace(".csv", ".json"),
               {"gains": gains, "sentence": sentence, "seconds": float(seconds)})


def write_like_for_like(folder: Path, table: pd.DataFrame, gap: dict, sentence: str) -> None:
    """The paper's scoring beside the book's (`like_for_like.table`, rounded to 4 digits) and the
    validation-test gap (`like_for_like.split_gap`) with its sentence."""
    folder = Path(folder)
    _write_csv(table.round(4), folder / LIKE_FOR_LIKE)
    write_json(folder / SPLIT_GAP, {**gap, "sentence": sentence})


#: The results page's tables: a run's file and the copy the page shows (`write_page_tables`).
PAGE_TABLES = {PAPER_TABLE: "paper_vs_reproduced.page.csv", COMPARISON: "baselines_ablations.page.csv"}


def write_page_tables(folder: Path) -> None:
    """The copies of the results page's tables without the columns that hold one value on every row (the
    profile, the number of test paintings): the page and its note say those once. Written at each build."""
    for name, shown in PAGE_TABLES.items():
        if (Path(folder) / name).exists():
            frame = pd.read_csv(Path(folder) / name, dtype=str, keep_default_na=False)
            varying = [c for c in frame.columns if len(frame) < 2 or frame[c][frame[c] != ""].nunique() > 1]
            _write_csv(frame[varying], Path(folder) / shown, index=False)


def missing(folder: Path) -> list[str]:
    """The REQUIRED files that `folder` lacks."""
    return [name for name in REQUIRED if not (Path(folder) / name).exists()]


def read_metrics(folder: Path) -> dict:
    """`write_test_metrics`' means, profile and test-set size."""
    return read_json(Path(folder) / METRICS)


def read_paper_table(folder: Path) -> pd.DataFrame:
    """`write_test_metrics`' table, indexed by metric."""
    return pd.read_csv(Path(folder) / PAPER_TABLE, index_col="metric")


def read_comparison(folder: Path) -> pd.DataFrame:
    """`write_comparison`'s table, indexed by model."""
    return pd.read_csv(Path(folder) / COMPARISON, index_col="model")


def read_floors(folder: Path) -> pd.DataFrame:
    """`write_floors`' table, indexed by model."""
    return pd.read_csv(Path(folder) / FLOORS, index_col="model")


def read_robustness(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`write_robustness`' tables by counts and by option (empty where a run has none)."""
    return tuple(pd.read_csv(path, index_col=0) if path.exists() else pd.DataFrame()
                 for path in (Path(folder) / COUNTS, Path(folder) / OPTIONS))


def read_colour_budget(folder: Path) -> tuple[pd.DataFrame, str]:
    """`write_colour_budget`'s ladder, indexed by rung, and its sentence (empty where a run has none)."""
    path = Path(folder) / COLOUR_BUDGET
    if not path.exists():
        return pd.DataFrame(), ""
    return pd.read_csv(path, index_col="rung"), read_json(path.with_suffix(".json"))["sentence"]


def read_embedding_sizes(folder: Path) -> tuple[pd.DataFrame, dict]:
    """`write_embedding_sizes`' table, indexed by embedding, and its JSON (empty where a run has none)."""
    path = Path(folder) / EMBEDDING_SIZES
    if not path.exists():
        return pd.DataFrame(), {}
    return pd.read_csv(path, index_col="embedding"), read_json(path.with_suffix(".json"))


def read_like_for_like(folder: Path) -> tuple[pd.DataFrame, dict]:
    """`write_like_for_like`'s table, indexed by setting, and the split gap (empty where a run has none)."""
    path = Path(folder) / LIKE_FOR_LIKE
    if not path.exists():
        return pd.DataFrame(), {}
    return pd.read_csv(path, index_col="setting"), read_json(Path(folder) / SPLIT_GAP)


def read_scaling(folder: Path) -> dict:
    """The run's scaling record, or {} where a run has none."""
    path = Path(folder) / SCALING
    return read_json(path) if path.exists() else {}


DOMAIN_SHIFT, DOMAIN_SHIFT_METHODS = "domain_shift.csv", "domain_shift_methods.csv"


def write_domain_shift(folder: Path, table: pd.DataFrame, methods: pd.DataFrame) -> None:
    """Chapter 8's shifts before and after adaptation (`domain_shift.summary`) and both adaptations side by
    side (`domain_shift.methods_table`), rounded to 4 digits."""
    _write_csv(table.round(4), Path(folder) / DOMAIN_SHIFT, index=False)
    _write_csv(methods.round(4), Path(folder) / DOMAIN_SHIFT_METHODS, index=False)


def read_domain_shift(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`write_domain_shift`'s two tables."""
    return pd.read_csv(Path(folder) / DOMAIN_SHIFT), pd.read_csv(Path(folder) / DOMAIN_SHIFT_METHODS)
