"""Run the notebooks in order with papermill, at a profile, and record the run.

Each notebook `notebooks/NN_name.ipynb` is one stage. The runner injects into a notebook only the
parameters it declares (in its cell tagged `parameters`), writes the executed copy to
`book/executed/NN_name.ipynb` only when every cell succeeded, and writes `book/executed/run.json`.
"""

from __future__ import annotations

import ast
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Iterator

import nbformat
import papermill
import yaml
from nbclient.exceptions import DeadKernelError

from . import device, lock, paths, prerequisites
from .io import atomic_path, read_json, write_json

HIDE_TAG = "hide-cell"
UNDER_RUNNER = "XRFNB_UNDER_RUNNER"  # set in the kernels the runner starts: their stages never start a run
VERSIONED = ("xrfnb", "numpy", "torch", "lightning", "torchmetrics", "timm", "xraylib", "scikit-image",
             "h5py", "papermill", "jupyter-book")


class RunError(RuntimeError):
    """A run could not start or a stage failed; the message says what and where."""


@dataclass(frozen=True)
class Profile:
    """A named set of parameter values (a data file in `xrfnb/profiles/`)."""

    name: str
    description: str
    device: str
    stage_timeout_s: int
    params: dict[str, Any] = field(default_factory=dict)
    budget_s: int | None = None


def profile_names() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("xrfnb").joinpath("profiles").iterdir()
                  if p.name.endswith(".yml"))


def load_profile(name: str) -> Profile:
    """Read profile `name`; an unknown name lists the known ones."""
    if name not in profile_names():
        raise RunError(f"unknown profile {name!r} (known: {', '.join(profile_names())})")
    data = yaml.safe_load(resources.files("xrfnb").joinpath(f"profiles/{name}.yml").read_text())
    return Profile(name=name, description=data["description"], device=data["device"],
                   stage_timeout_s=int(data["stage_timeout_s"]), params=dict(data["params"]),
                   budget_s=data.get("budget_s"))


def stages(notebooks_dir: Path) -> list[Path]:
    """The stage notebooks, in order of their two-digit prefix."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """Names and default values of the parameters a notebook declares; error if it has no `parameters` cell."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise RunError(f"{notebook}: no cell tagged 'parameters' (papermill needs one to inject the profile)")
    found = papermill.inspect_notebook(str(notebook))
    return {name: _literal(spec["default"]) for name, spec in found.items()}


def _literal(source: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return source


def _coerce(key: str, text: str, like: Any) -> Any:
    """Parse a `--set` value as YAML and check it has the type of the known default `like`."""
    value = yaml.safe_load(text)
    if isinstance(like, bool) or like is None:
        ok = like is None or isinstance(value, bool)
    elif isinstance(like, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(like)) and not (isinstance(value, bool) and not isinstance(like, bool))
    if not ok:
        raise RunError(f"--set {key}={text}: expected {type(like).__name__} like {like!r}, "
                       f"got {type(value).__name__}")
    return value


def resolve_parameters(profile: Profile, overrides: list[str], declared: dict[str, dict[str, Any]]) -> dict:
    """The profile's parameters with `key=value` overrides applied and checked against what notebooks declare."""
    known: dict[str, Any] = {}
    for params in declared.values():
        known.update(params)
    known.update(profile.params)
    params = {"profile": profile.name, **profile.params}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise RunError(f"--set {item!r}: expected key=value")
        if key not in known or key == "profile":
            raise RunError(f"--set {key}: unknown parameter (known: {', '.join(sorted(set(known) - {'profile'}))})")
        params[key] = _coerce(key, text, known[key])
    return params


def select(all_stages: list[Path], only: list[str] | None) -> list[Path]:
    """The stages named by `only` (full name `03_synthetic_maxrf`, number `03` or suffix `synthetic_maxrf`)."""
    if not only:
        return all_stages
    chosen = []
    for name in only:
        match = [s for s in all_stages if name in (s.stem, s.stem[:2], s.stem[3:])]
        if not match:
            raise RunError(f"--only {name}: no such stage (stages: {', '.join(s.stem for s in all_stages)})")
        chosen += [m for m in match if m not in chosen]
    return sorted(chosen)


def with_prerequisites(chosen: list[Path], all_stages: list[Path], run_dir: Path) -> list[Path]:
    """`chosen` plus the earlier stages that must run first because files the chosen ones read are missing
    from `run_dir` (files a chosen stage will write count as present)."""
    chosen_names = {nb.stem for nb in chosen}

    def present(file: str) -> bool:
        return (run_dir / file).exists() or prerequisites.WRITER[file] in chosen_names

    extra = {name for nb in chosen for name in prerequisites.stages_to_build(nb.stem, present)}
    added = [nb for nb in all_stages if nb.stem in extra - chosen_names]
    if added:
        print(f"also running {', '.join(nb.stem for nb in added)}: the files they write are missing from "
              f"{run_dir}", flush=True)
    return sorted([*chosen, *added])


def open_stage(profile_name: str, notebook: str) -> None:
    """Make a chapter opened on its own runnable: check the profile's device and build missing inputs.

    Called from every notebook's header cell. A GPU profile on a machine without a GPU stops with a
    message that suggests `smoke`. If files the stage reads are missing from `runs/<profile>/`, the
    earlier stages that write them run first through this runner, at the same profile; inside a run
    of the runner (which starts stages in order) nothing is built and a missing file is named instead.
    """
    profile = load_profile(profile_name)
    if profile.device == "cuda" and not _cuda_available():
        raise RunError(f"the {profile.name!r} profile needs a CUDA GPU and torch sees none on this machine: "
                       f"set profile = \"smoke\" in the parameters cell to run this chapter on CPU")
    stage, run_dir = Path(notebook).stem, paths.run_dir(profile.name)
    build = prerequisites.stages_to_build(stage, lambda file: (run_dir / file).exists())
    if not build:
        return
    missing = ", ".join(prerequisites.missing_inputs(stage, lambda file: (run_dir / file).exists()))
    if os.environ.get(UNDER_RUNNER):
        raise RunError(f"{stage} reads {missing} from {run_dir}, which this run has not written: run "
                       f"`xrfnb run --profile {profile.name} --only {' '.join(s[:2] for s in build)}` first")
    print(f"{stage} reads {missing}, not in {run_dir} yet: building {', '.join(build)} at the "
          f"{profile.name!r} profile first", flush=True)
    run(profile.name, only=build, progress=True)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@contextmanager
def _under_runner() -> Iterator[None]:
    """Mark the kernels started in this block as the runner's (they inherit the environment)."""
    old = os.environ.get(UNDER_RUNNER)
    os.environ[UNDER_RUNNER] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ[UNDER_RUNNER]
        else:
            os.environ[UNDER_RUNNER] = old


@contextmanager
def _deadline(seconds: int, stage: str) -> Iterator[None]:
    """Raise RunError if the block runs longer than `seconds` (main thread, POSIX)."""
    def expire(signum: int, frame: Any) -> None:
        raise RunError(f"stage {stage} exceeded its {seconds} s timeout (profile stage_timeout_s)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _hide_parameter_cells(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and HIDE_TAG not in tags:
            tags.append(HIDE_TAG)
    nbformat.write(nb, path)


def execute_stage(notebook: Path, params: dict, out: Path, timeout_s: int, progress: bool) -> float:
    """Execute one notebook into `out`, atomically; return its seconds. A failure names the cell."""
    failed = paths.project_root() / "_build" / "failed" / notebook.name
    out.unlink(missing_ok=True)  # never leave an older copy that looks like this run's
    start = time.perf_counter()
    with atomic_path(out) as tmp:
        try:
            with _deadline(timeout_s, notebook.stem):
                papermill.execute_notebook(
                    str(notebook), str(tmp), parameters=params, kernel_name="python3",
                    cwd=str(notebook.parent), progress_bar=progress, language="python")
        except (papermill.PapermillExecutionError, DeadKernelError, RunError) as err:
            failed.parent.mkdir(parents=True, exist_ok=True)
            if tmp.exists() and tmp.stat().st_size:
                tmp.replace(failed)
            if not isinstance(err, papermill.PapermillExecutionError):
                raise RunError(f"stage {notebook.stem} stopped: {str(err).strip().splitlines()[0]} -- what it "
                               f"had written is in {failed}") from None
            source = nbformat.read(notebook, as_version=4).cells
            params_at = next(i for i, c in enumerate(source) if "parameters" in c.metadata.get("tags", []))
            injected = bool(params) and err.cell_index > params_at  # papermill's cell after `parameters`
            cell = err.cell_index + 1 - injected  # 1-based, as the source notebook shows it
            first_line = err.source.strip().splitlines()[0] if err.source.strip() else ""
            message = err.evalue.splitlines()[0] if err.evalue else ""
            raise RunError(f"stage {notebook.stem} failed in cell {cell} ({first_line!r}): {err.ename}: "
                           f"{message} -- the failed notebook is {failed}") from None
        _hide_parameter_cells(tmp)
    return time.perf_counter() - start


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=paths.project_root()).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def check_budget(profile: Profile, stage_names: list[str], params: dict, run_dir: Path, margin: float = 1.5) -> None:
    """Refuse, before anything runs, a profile whose estimated time is well over its budget on this machine.

    The estimate scales the stage seconds measured here (any profile) by the work each stage does; stages
    whose work is already finished are not counted. Without measurements there is nothing to check.
    """
    from . import budget

    if not profile.budget_s:
        return
    todo = [s for s in stage_names if _artifact_stamp(run_dir, s) is None]
    seconds = budget.estimate(todo, params, run_dir.parent)
    if seconds is not None and seconds > margin * profile.budget_s:
        raise RunError(f"the {profile.name!r} profile would take about {seconds / 60:.0f} min on this machine "
                       f"(estimated from the stage rates measured in {run_dir.parent}/*/computed.json), over "
                       f"its budget of {profile.budget_s / 60:.0f} min; use a smaller profile, lower its "
                       f"sizes with --set, or run anyway with --force")


def run(profile_name: str = "smoke", only: list[str] | None = None, overrides: list[str] | None = None,
        notebooks_dir: Path | None = None, out_dir: Path | None = None, progress: bool | None = None,
        force: bool = False) -> dict:
    """Execute the stages of a profile in order and write the run record; returns the record.

    Parameters
    ----------
    profile_name : a profile in `xrfnb/profiles/` (`smoke`, `laptop`, `lite`, `paper`).
    only : stage names to run (default: all); others keep their earlier executed copies and records.
    overrides : `key=value` strings that replace profile parameters (type-checked).
    notebooks_dir, out_dir : source notebooks and executed copies (default `notebooks/`, `book/executed/`).
    progress : papermill's per-cell progress bar (default: when stdout is a terminal).
    force : run even when the time estimated from this machine's measured stage rates is well over the
        profile's budget (`budget_s`).
    """
    root = paths.project_root()
    notebooks_dir = notebooks_dir or root / "notebooks"
    out_dir = out_dir or root / "book" / "executed"
    profile = load_profile(profile_name)
    all_stages = stages(notebooks_dir)
    if not all_stages:
        raise RunError(f"{notebooks_dir}: no stage notebooks (NN_name.ipynb) found")
    declared = {nb.stem: declared_parameters(nb) for nb in all_stages}
    params = resolve_parameters(profile, overrides or [], declared)
    run_dir = paths.run_dir(profile.name)
    chosen = with_prerequisites(select(all_stages, only), all_stages, run_dir)
    if profile.device == "cuda":
        device.torch_device("cuda")
    if not force:
        check_budget(profile, [nb.stem for nb in chosen], params, run_dir)
    progress = sys.stdout.isatty() if progress is None else progress

    record_path = out_dir / "run.json"
    previous = read_json(record_path) if record_path.exists() else {}
    stages_record = previous.get("stages", {}) if previous.get("profile") == profile.name else {}
    run_start = time.perf_counter()
    for i, nb in enumerate(chosen, 1):
        inject = {k: v for k, v in params.items() if k in declared[nb.stem]}
        print(f"[{i}/{len(chosen)}] {nb.stem} ({profile.name}) ...", flush=True)
        before = _artifact_stamp(run_dir, nb.stem)
        with _under_runner():
            seconds = execute_stage(nb, inject, out_dir / nb.name, profile.stage_timeout_s, progress)
        unwritten = [f for f in prerequisites.WRITES.get(nb.stem, ()) if not (run_dir / f).exists()]
        if unwritten:
            raise RunError(f"stage {nb.stem} finished without writing {', '.join(unwritten)} in {run_dir}, "
                           "which later stages read (WRITES in xrfnb/prerequisites.py)")
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        stages_record[nb.stem] = {"seconds": round(seconds, 2), "parameters": inject, "date": now,
                                  **_provenance(run_dir, nb.stem, before, seconds, now, params)}
        print(f"[{i}/{len(chosen)}] {nb.stem} done in {seconds:.1f} s "
              f"(elapsed {time.perf_counter() - run_start:.1f} s)", flush=True)
        record = _record(profile, params, root, stages_record)
        write_json(record_path, record)  # after every stage: a later failure keeps what finished
    return record


def _record(profile: Profile, params: dict, root: Path, stages_record: dict) -> dict:
    """The run record: profile, parameters, commit, versions, lock, device and every stage's seconds."""
    return {
        "profile": profile.name,
        "description": profile.description,
        "parameters": params,
        "git_commit": git_commit(),
        "versions": versions(),
        "lock": lock.status(root / lock.LOCK_FILE),
        "device": device.describe(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "stages": dict(sorted(stages_record.items())),
        "total_seconds": round(sum(s["seconds"] for s in stages_record.values()), 2),
    }


def _artifact_stamp(run_dir: Path, stage: str) -> float | None:
    """Modification time of the stage's main artifact (the first file it WRITES), None if absent."""
    files = prerequisites.WRITES.get(stage, ())
    return (run_dir / files[0]).stat().st_mtime if files and (run_dir / files[0]).exists() else None


def _provenance(run_dir: Path, stage: str, before: float | None, seconds: float, date: str,
                parameters: dict) -> dict:
    """Whether a stage computed its main artifact or reused finished work, and when that work was done.

    A stage reused its work when its main artifact existed before it ran and was not rewritten; the
    seconds and date of the run that computed it come from `runs/<profile>/computed.json`, which
    records every stage that computed, with the run's parameters (the budget check scales from them).
    Stages with no artifact of their own (the evaluation) computed.
    """
    ledger_path = run_dir / "computed.json"
    ledger = read_json(ledger_path) if ledger_path.exists() else {}
    reused = before is not None and before == _artifact_stamp(run_dir, stage)
    if not reused:
        ledger[stage] = {"seconds": round(seconds, 2), "date": date, "parameters": parameters}
        write_json(ledger_path, ledger)
        return {"reused": False}
    original = ledger.get(stage, {})
    return {"reused": True, "computed_seconds": original.get("seconds"), "computed_date": original.get("date")}


def call_with(fn, params: dict, **extra):
    """Call `fn` with the parameters it names, taken from a run's parameters (plus `extra`)."""
    import inspect

    names = inspect.signature(fn).parameters
    return fn(**{k: v for k, v in params.items() if k in names}, **extra)


def profile_parameters(profile_name: str, overrides: list[str] | None = None) -> dict:
    """What the notebooks see at a profile: their own defaults, the profile's values, then `key=value`
    overrides (checked as `run` checks them)."""
    root = paths.project_root()
    declared = {nb.stem: declared_parameters(nb) for nb in stages(root / "notebooks")}
    defaults = {k: v for params in declared.values() for k, v in params.items()}
    return {**defaults, **resolve_parameters(load_profile(profile_name), overrides or [], declared)}
