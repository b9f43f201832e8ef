"""The Jupyter Book: page headers that name the profile, the execution-record page, and the build."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .. import device, locations
from . import paths
from ..io import atomic_dir, atomic_path, read_json
from .runner import RunError, profile_file

CONFIG = "_config.yml"


def repository_url(root: Path | None = None) -> str:
    """The project's repository address, set in one place: `repository.url` of `_config.yml`.

    The book's launch and repository buttons read it there too; `tests/test_repository.py` checks that
    the README, `CITATION.cff` and the notebooks' install cell agree with it.
    """
    import yaml

    config = (root or paths.project_root()) / CONFIG
    url = (yaml.safe_load(config.read_text()) or {}).get("repository", {}).get("url") if config.exists() else None
    if not url:
        raise RunError(f"{config}: no repository.url (the project's address, read by the book and its header)")
    return url.rstrip("/")


def inline_html(markdown: str) -> str:
    """One paragraph of Markdown (a profile's description) as HTML for a box that is written as HTML: its
    `code` spans and emphasis rendered, not shown with their backticks; HTML in it is escaped."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).renderInline(markdown)


def header(profile: str, notebook: str) -> None:
    """Show, at the top of an executed page, which profile and hardware produced it; it only displays.

    Building a chapter's missing inputs is the notebook's own line before it (`runner.open_stage`).
    """
    from html import escape

    from IPython.display import HTML, display

    description = profile_file(profile)["description"]  # the runner, or `open_stage` above, checked it
    source = f"{repository_url()}/blob/main/notebooks/{notebook}"
    display(HTML(
        f'<div class="admonition note"><p class="admonition-title">Produced by the <code>{profile}</code> '
        f"profile</p><p>{inline_html(description)}</p><p>Run on {escape(device.describe())}, "
        f'{dt.date.today().isoformat()}. Source notebook: <a href="{source}"><code>notebooks/{notebook}</code>'
        f'</a>; the whole run is listed in the <a href="../execution_record.html">execution record</a>.</p></div>'))


def execution_record_markdown(record: dict) -> str:
    """The execution-record page (MyST Markdown) for a `run.json` record."""
    rows = "\n".join(_stage_row(name, s) for name, s in record["stages"].items())
    params = "\n".join(f"| `{k}` | `{v!r}` |" for k, v in sorted(record["parameters"].items()))
    vers = ", ".join(f"{k} {v}" for k, v in record["versions"].items())
    lock = record.get("lock") or {}
    if not lock.get("file"):
        locked = "no lock file was found: versions as installed"
    elif lock["differs"]:
        locked = (f"`{lock['file']}` (sha256 `{lock['sha256']}`), with {len(lock['differs'])} installed "
                  f"version(s) differing from it: {', '.join(lock['differs'])}")
    else:
        locked = f"`{lock['file']}` (sha256 `{lock['sha256']}`); every installed version matches it"
    return f"""# Execution record

Every page of this book was produced by one run of the pipeline, recorded here from
`book/executed/run.json`.

| | |
|---|---|
| profile | **{record['profile']}** |
| what it is | {record['description']} |
| device | {record['device']} |
| date | {record['date']} |
| git commit | `{record['git_commit']}` |
| time | {record['total_seconds']:.1f} s in this run's stages; {compute_seconds(record)} of computation behind them (reused work at the time it took) |

## Seconds per stage

A stage either computed its work in this run or reused finished work with the same inputs and
parameters (its outputs are keyed on them); for reused work the table gives when it was computed and
how long that took.

| stage | seconds | finished | work | computed in (s) | computed on |
|---|---:|---|---|---:|---|
{rows}
{reruns(record)}
## Parameters

| parameter | value |
|---|---|
{params}

## Versions

{vers}

Environment lock: {locked}.
"""


def reruns(record: dict) -> str:
    """A note for every stage that finished after a later stage: it was executed again on its own.

    Stages run in order, so such a stage was re-executed after the run (e.g. `xrfnb run --only`); when its
    work was reused, the later stages' inputs did not change.
    """
    names = list(record["stages"])
    notes = []
    for i, name in enumerate(names):
        stage, later = record["stages"][name], [record["stages"][n] for n in names[i + 1:]]
        after = [n for n, s in zip(names[i + 1:], later) if s["date"] < stage["date"]]
        if after:
            why = ("its work was reused (computed on " + str(stage.get("computed_date") or "an unknown date")[:19]
                   + "), so the later stages' inputs are unchanged" if stage.get("reused")
                   else "it computed its work again, after the stages that read it")
            notes.append(f"`{name}` finished after {', '.join(f'`{n}`' for n in after)}: it was executed again on "
                         f"its own after the run ({stage['date'][:19]}); {why}.")
    return "".join(f"\n{n}\n" for n in notes)


def compute_seconds(record: dict) -> str:
    """Seconds of computation behind a run's stages: this run's own, plus what reused work took when computed."""
    parts = [s.get("computed_seconds") if s.get("reused") else s["seconds"] for s in record["stages"].values()]
    return "unknown" if None in parts else f"{sum(parts):.1f} s"


def _stage_row(name: str, stage: dict) -> str:
    """One row of the seconds-per-stage table: this run's seconds, and where the work was computed."""
    this_run = f"| `{name}` | {stage['seconds']:.1f} | {stage['date'][:19]}"
    if not stage.get("reused"):
        return f"{this_run} | computed | {stage['seconds']:.1f} | {stage['date'][:19]} |"
    seconds, date = stage.get("computed_seconds"), stage.get("computed_date")
    return (f"{this_run} | reused | {'unknown' if seconds is None else f'{seconds:.1f}'} | "
            f"{(date or 'unknown')[:19]} |")


def _run_named(record: dict) -> str:
    return (f"the **{record['profile']}** profile, run on {record['device']} on {record['date'][:10]} "
            f"(commit `{record['git_commit'][:10]}`)")


def run_summary_markdown(record: dict, published: dict | None = None, site: str | None = None) -> str:
    """One admonition naming the profile, device and date of the run a page shows (for `{include}`).

    When the book shows another run than the `published` one (the smoke book), the verdict box above it
    holds the published run's numbers: the note says which numbers come from which run, and links the
    published book (`site`)."""
    own = "[execution record](execution_record.md)"
    if published is None or (published["profile"], published["date"]) == (record["profile"], record["date"]):
        return f"```{{note}}\nThe numbers on this page come from {_run_named(record)}; see the {own}.\n```\n"
    where = f"[the published book]({site})" if site else "the published book"
    return (f"```{{note}}\nThe verdict box above gives the numbers of the published run, {_run_named(published)}, "
            f"which {where} shows throughout. Every other number on this page comes from this book's own run, "
            f"{_run_named(record)}; see the {own}.\n```\n")


def write_execution_record(root: Path | None = None) -> Path:
    """Render `book/executed/run.json` into `book/execution_record.md` and `book/run_summary.md`, and the
    run's results into the verdict box and findings (`book/verdict.md`, `book/findings.md`)."""
    from .. import result_files
    from ..evaluation import findings, verdict

    root = root or paths.project_root()
    record_path = root / "book" / "executed" / "run.json"
    if not record_path.exists():
        raise RunError(f"{record_path}: no run record; run `xrfnb run` before building the book")
    record = read_json(record_path)
    published_path = root / "book" / "published" / "executed" / "run.json"
    published = read_json(published_path) if published_path.exists() else None
    summary = run_summary_markdown(record, published, locations.site_url(root))
    result_files.write_page_tables(root / "book" / "results")
    for name, text in (("execution_record.md", execution_record_markdown(record)), ("run_summary.md", summary),
                       ("verdict.md", verdict.box_markdown(root)), ("findings.md", findings.findings_markdown(root))):
        with atomic_path(root / "book" / name) as tmp:
            tmp.write_text(text)
    return root / "book" / "execution_record.md"


#: What a run contributes to the book: executed notebooks with the run record, figures, results.
RUN_PARTS = ("executed", "figures", "results")


def finished_record(root: Path) -> dict:
    """The run record of a finished run under `root/book`; a failed or partial run is refused, with why."""
    from .runner import stages

    record_path = root / "book" / "executed" / "run.json"
    if not record_path.exists():
        raise RunError(f"{record_path}: no run record, so no finished run to publish")
    record = read_json(record_path)
    for notebook in stages(root / "notebooks"):
        executed = root / "book" / "executed" / notebook.name
        stage = record["stages"].get(notebook.stem)
        if stage is None or not executed.exists():
            raise RunError(f"cannot publish: stage {notebook.stem} has not run at the {record['profile']!r} "
                           f"profile (run `xrfnb run --profile {record['profile']}`)")
        ran_at = stage["parameters"].get("profile", record["profile"])  # stage records live under runs/<profile>/
        if ran_at != record["profile"]:
            raise RunError(f"cannot publish: stage {notebook.stem} ran at the {ran_at!r} profile, the run is "
                           f"{record['profile']!r}")
        if read_json(executed).get("metadata", {}).get("papermill", {}).get("exception"):
            raise RunError(f"cannot publish: {executed} records a failed execution")
    return record


def publish(root: Path | None = None, scaling_only: bool = False) -> Path:
    """Copy a finished run's executed notebooks, run record, figures and results into `book/published/`,
    and its trained models into `book/published/model/` (safetensors + JSON, `xrfnb.export`).

    The folder is committed, and `build(published=True)` renders the book from it without running
    anything. Every publish also files the run's scaling record as `book/scaling/<profile>.json`
    (`result_files.file_scaling_record`); `scaling_only` does only that (e.g. for `smoke`).
    """
    from .. import export, result_files

    root = root or paths.project_root()
    record = finished_record(root)
    if not scaling_only:
        with atomic_dir(root / "book" / "published") as tmp:
            for part in RUN_PARTS:  # not what a killed write left behind (`io.atomic_path`'s hidden names)
                shutil.copytree(root / "book" / part, tmp / part, ignore=shutil.ignore_patterns(".*"))
            run = root / "runs" / record["profile"]
            if (run / "smalluvit" / "best.ckpt").exists():  # the trained models, for `xrfnb recolour`
                params = {k: v for stage in record["stages"].values() for k, v in stage["parameters"].items()}
                export.write(run, tmp / "model", profile=params)
    result_files.file_scaling_record(root / "book" / "results", root / "book" / "scaling", record)
    return root / "book" / ("scaling" if scaling_only else "published")


def published_toc(toc: str, executed: Path) -> str:
    """The table of contents without the chapters the published run did not execute (a chapter added since
    the last publish): the published book builds, without that chapter, until the next publish holds it."""
    kept = []
    for line in toc.splitlines():
        page = line.split(":", 1)[1].strip() if line.strip().startswith("- file:") else ""
        if page.startswith("book/executed/") and not (executed / f"{Path(page).name}.ipynb").exists():
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def _published_source(root: Path) -> Path:
    """A copy of the book's sources with the published run in place of the local one (in `_build/`)."""
    published = root / "book" / "published"
    if not (published / "executed" / "run.json").exists():
        raise RunError(f"{published}: no published run (publish one with `xrfnb publish`)")
    src = root / "_build" / "published-src"
    shutil.rmtree(src, ignore_errors=True)
    skip = {*RUN_PARTS, "published", "execution_record.md", "run_summary.md", "verdict.md", "findings.md"}
    shutil.copytree(root / "book", src / "book",
                    ignore=lambda folder, names: skip & set(names) if Path(folder) == root / "book" else set())
    shutil.copy2(root / "_config.yml", src / "_config.yml")
    (src / "_toc.yml").write_text(published_toc((root / "_toc.yml").read_text(), published / "executed"))
    for part in RUN_PARTS:
        shutil.copytree(published / part, src / "book" / part)
    return src


def own_scan_outputs(root: Path) -> Path:
    """Run the page's command on the committed sample scan with the published model, into `book/own_scan/`
    of `root` (what the page and the landing page show): the command's four outputs, the lines it printed
    (`printed.txt`), and the painting beside its recolouring (`beside.png`). Run by `xrfnb book`."""
    import contextlib
    import io
    import warnings

    from .. import export, plots
    from ..scans import realdata, sample_scan
    from .cli import main

    scan = root / "book" / "sample_scan" / f"{sample_scan.NAME}.rpl"
    with atomic_dir(root / "book" / "own_scan") as tmp:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            if main(["recolour", str(scan), "--out", str(tmp / sample_scan.NAME)]) != 0:
                raise RuntimeError(f"{scan}: the page's command failed (see the message above)")
        text = printed.getvalue()
        for folder in (tmp, root, export.published_folder().parents[2]):  # no machine's paths on the page
            text = text.replace(f"{folder}/", "")
        (tmp / "printed.txt").write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", realdata.ScanWarning)
            rgb = realdata.analyse(realdata.load_cube(scan), realdata.load_run(None)).rgb
        figure = plots.mosaic([sample_scan.painting()[0], rgb], ["the painting (CC0)", "recoloured from its synthetic scan"],
                              ncols=2, size=3.2, thumb_px=sample_scan.SIZE)
        plots.save(figure, tmp / "beside.png", show=False)
    return root / "book" / "own_scan"


def build(root: Path | None = None, strict: bool = True, published: bool = False) -> Path:
    """Build the book offline into `_build/html` (warnings are errors when `strict`); return index.html.

    With `published` the book shows the committed run in `book/published/` instead of the local run.
    """
    root = root or paths.project_root()
    out = root
    if published:
        root = _published_source(root)
    write_execution_record(root)
    own_scan_outputs(root)  # the page "Your own scan" shows its command run on the sample scan
    missing = [line.split(":", 1)[1].strip() for line in (root / "_toc.yml").read_text().splitlines()
               if line.strip().startswith(("- file:", "root:"))]
    absent = [f for f in missing if not any((root / f"{f}{ext}").exists() for ext in ("", ".md", ".ipynb"))]
    if absent:
        raise RunError(f"_toc.yml lists pages that do not exist yet: {', '.join(absent)} "
                       "(run `xrfnb run` first)")
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "--path-output", str(out)]
    if strict:
        cmd += ["-W", "--keep-going"]
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    result = subprocess.run(cmd, cwd=root, env=env)
    if result.returncode != 0:
        raise RunError(f"jupyter-book build failed (exit {result.returncode}); see the messages above")
    return out / "_build" / "html" / "index.html"


def show(values: dict, name: str = "value", precision: int = 4):
    """A dict as a rendered two-column table: floats rounded, sequences joined, no Python reprs."""
    import pandas as pd

    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.{precision}f}"
        if isinstance(v, (list, tuple)):
            return ", ".join(cell(x) for x in v)
        return str(v)

    return pd.DataFrame({name: {k: cell(v) for k, v in values.items()}}).style
