"""Run the notebooks in order with papermill, at a profile, and record the run.

Each notebook `notebooks/NN_name.ipynb` is one stage with one set of parameters (`stages.STAGES`). A
profile is the stages' defaults plus its own differences (`xrfnb/profiles/*.yml`); `--set` overrides are
checked against the stages' fields. The runner plans with the stages' keys (`config`): a stage is done
when its record's key matches the parameters asked for, and the stages a selection depends on that are
not done run first. It injects into a notebook its stage's parameters, writes the executed copy to
`book/executed/NN_name.ipynb` only when every cell succeeded, and writes `book/executed/run.json`, whose
parameters are those each stage's outputs were really made with (read from its record).
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

import yaml

from .. import device
from ..config import ParameterError, StageParams, read_record
from ..io import atomic_path, read_json, write_json
from . import lock, paths, prerequisites
from . import stages as stage_params

HIDE_TAG = "hide-cell"
UNDER_RUNNER = "XRFNB_UNDER_RUNNER"  # set in the kernels the runner starts: their stages never start a run
VERSIONED = ("xrfnb", "numpy", "torch", "lightning", "torchmetrics", "xraylib", "scikit-image",
             "h5py", "papermill", "jupyter-book")


class RunError(RuntimeError):
    """A run could not start or a stage failed; the message says what and where."""


#: A stage's timeout is this many times its planned seconds: it catches a hang, not a machine that is slow
#: or busy (a run slowed threefold by other work still finishes).
TIMEOUT_FACTOR = 10


@dataclass(frozen=True)
class Profile:
    """A named set of parameter values (a data file in `xrfnb/profiles/`): its differences from the
    stages' defaults in `changes`, and all of them in `params`. `stage_seconds` plans each stage's time
    (measured on a quiet 2-core CPU); `stage_timeout_s` is the least time any stage is given."""

    name: str
    description: str
    device: str
    stage_timeout_s: int
    changes: dict[str, Any] = field(default_factory=dict)
    budget_s: int | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        return {**stage_params.base(), **self.changes}

    def timeout_s(self, stage: str) -> int:
        """The stage's timeout: TIMEOUT_FACTOR times its planned seconds, at least `stage_timeout_s`."""
        return int(max(self.stage_timeout_s, TIMEOUT_FACTOR * self.stage_seconds.get(stage, 0)))


def profile_names() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("xrfnb").joinpath("profiles").iterdir()
                  if p.name.endswith(".yml"))


def profile_file(name: str) -> dict:
    """Profile `name`'s file as written, unchecked (an unknown name lists the known ones): what a kernel the
    runner started reads (its description, its device), after the runner checked the profile."""
    if name not in profile_names():
        raise RunError(f"unknown profile {name!r} (known: {', '.join(profile_names())})")
    return yaml.safe_load(resources.files("xrfnb").joinpath(f"profiles/{name}.yml").read_text())


def load_profile(name: str) -> Profile:
    """Read profile `name` and check its parameters against every stage's; an unknown name lists the known ones."""
    data = profile_file(name)
    changes = dict(data.get("params") or {})
    known = stage_params.base()
    for key in changes:
        if key not in known:
            raise RunError(f"xrfnb/profiles/{name}.yml: unknown parameter {key}{_suggest(key, known)}")
    try:
        stage_params.build({**known, **changes})
    except ParameterError as err:
        raise RunError(f"xrfnb/profiles/{name}.yml: {err}") from None
    return Profile(name=name, description=data["description"], device=data["device"],
                   stage_timeout_s=int(data["stage_timeout_s"]), changes=changes, budget_s=data.get("budget_s"),
                   stage_seconds=planned_seconds(name, data.get("stage_seconds") or {}))


def planned_seconds(name: str, planned: dict) -> dict[str, float]:
    """A profile's `stage_seconds`, checked: every value a number of seconds (that every name is a stage,
    the tests check for the committed profiles)."""
    try:
        return {stage: float(seconds) for stage, seconds in planned.items()}
    except (TypeError, ValueError):
        raise RunError(f"xrfnb/profiles/{name}.yml: stage_seconds holds a value that is not seconds") from None


def _suggest(key: str, known: dict) -> str:
    """', did you mean X? (used by STAGE)' for a near miss, else the list of known parameters."""
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f" (did you mean {close[0]}? used by {', '.join(stage_params.users(close[0]))})"
    return f" (known: {', '.join(sorted(known))})"


def stages(notebooks_dir: Path) -> list[Path]:
    """The stage notebooks, in order of their two-digit prefix."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """Names and default values of the parameters a notebook declares; error if it has no `parameters` cell."""
    import nbformat
    import papermill

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


def resolve_parameters(profile: Profile, overrides: list[str]) -> dict:
    """The profile's parameters with `key=value` overrides applied, each checked by the stages that use it."""
    params = profile.params
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise RunError(f"--set {item!r}: expected key=value")
        if key not in params:
            raise RunError(f"--set {key}: unknown parameter{_suggest(key, params)}")
        params[key] = yaml.safe_load(text)
    try:
        stage_params.build(params)
    except ParameterError as err:
        raise RunError(f"--set: {err}") from None
    return params


def plan(params: dict, run_dir: Path, names: list[str] | None = None) -> dict[str, dict]:
    """Each stage's parameters, the key its outputs will have, and whether `run_dir` already holds them
    ({stage: {"params", "key", "done"}}). Keys chain: a stage's key holds the keys of the stages it reads."""
    out: dict[str, dict] = {}
    for stage, cfg in stage_params.build(params).items():  # in stage order
        key = cfg.key({s: out[s]["key"] for s in cfg.after})
        out[stage] = {"params": cfg, "key": key, "done": cfg.holds(run_dir, key)}
    return {k: v for k, v in out.items() if names is None or k in names}


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


def with_prerequisites(chosen: list[Path], all_stages: list[Path], done: dict[str, bool]) -> list[Path]:
    """`chosen` plus the earlier stages they depend on that are not done (`done[stage]`): missing, or
    made with other parameters, code or inputs than those asked for."""
    chosen_names = {nb.stem for nb in chosen}
    extra = {name for nb in chosen for name in prerequisites.stages_to_build(nb.stem, lambda s: done.get(s, True))}
    added = [nb for nb in all_stages if nb.stem in extra - chosen_names]
    if added:
        print(f"also running {', '.join(nb.stem for nb in added)}: their outputs are missing or were made "
              f"with other parameters", flush=True)
    return sorted([*chosen, *added])


def open_stage(profile_name: str, notebook: str) -> None:
    """Make a chapter opened on its own runnable: check the profile's device and build missing inputs.

    Called by every notebook in its setup cell, on its own line before `book.header` (which only
    displays). A GPU profile on a machine without a GPU stops with a message that suggests `smoke`. If
    earlier stages the chapter reads are not done in `runs/<profile>/`, they run first through this runner
    at the same profile; inside a run of the runner (which starts stages in order, `UNDER_RUNNER`) nothing
    is built and a missing file is named instead.
    """
    under_runner = bool(os.environ.get(UNDER_RUNNER))
    # the runner checked the profile against every stage; a kernel it started reads only its device, and
    # so imports the code of its own stage alone
    device = profile_file(profile_name)["device"] if under_runner else load_profile(profile_name).device
    if device == "cuda" and not _cuda_available():
        raise RunError(f"the {profile_name!r} profile needs a CUDA GPU and torch sees none on this machine: "
                       f"set profile = \"smoke\" in the parameters cell to run this chapter on CPU")
    stage, run_dir = Path(notebook).stem, paths.run_dir(profile_name)
    if under_runner:  # the runner has run what this stage needs: only name a missing file
        missing = prerequisites.missing_inputs(stage, lambda file: (run_dir / file).exists())
        if missing:
            build = prerequisites.stages_to_build(stage, lambda s: False)
            raise RunError(f"{stage} reads {', '.join(missing)} from {run_dir}, which this run has not written: "
                           f"run `{inputs_command(profile_name, build)}` first")
        return
    build_inputs(profile_name, stage)


def inputs_command(profile_name: str, build: list[str], overrides: list[str] | None = None) -> str:
    """The command that runs the stages `build` at a profile (with the overrides they use)."""
    sets = "".join(f" --set {item}" for item in _used_by(build, overrides or []))
    return f"xrfnb run --profile {profile_name} --only {' '.join(s[:2] for s in build)}{sets}"


def _used_by(build: list[str], overrides: list[str]) -> list[str]:
    """The `key=value` overrides that a stage of `build` uses (the others would only warn there)."""
    return [item for item in overrides if set(stage_params.users(item.partition("=")[0])) & set(build)]


def inputs_to_build(profile_name: str, stage: str, overrides: list[str] | None = None) -> list[str]:
    """The earlier stages `stage` reads from that are not done at a profile with overrides, in order."""
    params = resolve_parameters(load_profile(profile_name), overrides or [])
    done = {name: step["done"] for name, step in plan(params, paths.run_dir(profile_name)).items()}
    return prerequisites.stages_to_build(stage, lambda s: done[s])


def build_inputs(profile_name: str, stage: str, overrides: list[str] | None = None) -> list[str]:
    """Run the earlier stages `stage` reads from that are not done, as `xrfnb run --only` does before a
    stage, at the same profile and overrides; returns them (none when all are done).

    Used by a chapter opened on its own and by the commands that run one stage without its notebook
    (`xrfnb train`, `xrfnb stage`, `xrfnb scaling`).
    """
    build = inputs_to_build(profile_name, stage, overrides)
    if build:
        print(f"{stage} reads the outputs of {', '.join(build)}, which {paths.run_dir(profile_name)} does not "
              f"hold at the {profile_name!r} profile: building them first", flush=True)
        run(profile_name, only=build, overrides=_used_by(build, overrides or []), progress=True)
    return build


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@contextmanager
def _under_runner() -> Iterator[None]:
    """Mark the kernels started in this block as the runner's (they inherit the environment), and hand them
    the name of this machine's hardware (`device.DESCRIBED`), so that a chapter without a model never
    imports torch to name it."""
    marks = {UNDER_RUNNER: "1", device.DESCRIBED: device.describe()}
    old = {name: os.environ.get(name) for name in marks}
    os.environ.update(marks)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


@contextmanager
def _deadline(seconds: int, stage: str) -> Iterator[None]:
    """Raise RunError if the block runs longer than `seconds` (main thread, POSIX)."""
    def expire(signum: int, frame: Any) -> None:
        raise RunError(f"stage {stage} exceeded its {seconds} s timeout ({TIMEOUT_FACTOR} x its planned seconds, "
                       f"at least stage_timeout_s; profile stage_seconds)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _hide_parameter_cells(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and HIDE_TAG not in tags:
            tags.append(HIDE_TAG)
    nbformat.write(nb, path)


def execute_stage(notebook: Path, params: dict, out: Path, timeout_s: int, progress: bool) -> float:
    """Execute one notebook into `out`, atomically; return its seconds. A failure names the cell."""
    import nbformat
    import papermill
    from nbclient.exceptions import DeadKernelError

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


def check_budget(profile: Profile, todo: list[str], params: dict, run_dir: Path, margin: float = 1.5) -> None:
    """Refuse, before anything runs, a profile whose estimated time is well over its budget on this machine.

    The estimate scales the stage seconds measured here (any profile) by the work each stage does; only
    the stages in `todo` (those not done) count. Without measurements there is nothing to check.
    """
    from . import budget

    if not profile.budget_s:
        return
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
    only : stage names to run (default: all), plus the stages they depend on that are not done; the
        others keep their earlier executed copies and records.
    overrides : `key=value` strings that replace profile parameters (checked by the stages that use them).
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
    for nb in all_stages:
        try:
            stage_params.params_of(nb.stem)
        except ParameterError:
            raise RunError(f"{nb}: no stage parameters for it in xrfnb/pipeline/stages.py (STAGES)") from None
    params = resolve_parameters(profile, overrides or [])
    run_dir = paths.run_dir(profile.name)
    steps = plan(params, run_dir)
    chosen = with_prerequisites(select(all_stages, only), all_stages,
                                {name: step["done"] for name, step in steps.items()})
    if profile.device == "cuda":
        device.torch_device("cuda")
    if not force:
        check_budget(profile, [nb.stem for nb in chosen if not steps[nb.stem]["done"]], params, run_dir)
    progress = sys.stdout.isatty() if progress is None else progress

    if out_dir == root / "book" / "executed":
        paths.show_outputs(profile.name, root)  # another profile's pages are kept, not overwritten
    record_path = out_dir / "run.json"
    previous = read_json(record_path) if record_path.exists() else {}
    stages_record = previous.get("stages", {}) if previous.get("profile") == profile.name else {}
    unused = unused_overrides(overrides or [], params, [steps[nb.stem]["params"] for nb in chosen])
    run_start = time.perf_counter()
    for i, nb in enumerate(chosen, 1):
        step = steps[nb.stem]
        inject = {"profile": profile.name, **step["params"].as_dict()}
        inject = {k: v for k, v in inject.items() if k in declared[nb.stem]}
        print(f"[{i}/{len(chosen)}] {nb.stem} ({profile.name}) ...", flush=True)
        with _under_runner():
            seconds = execute_stage(nb, inject, out_dir / nb.name, profile.timeout_s(nb.stem), progress)
        made = _check_outputs(nb.stem, step, run_dir)
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        stages_record[nb.stem] = {"seconds": round(seconds, 2), "date": now, "key": made["key"],
                                  "parameters": made["parameters"],
                                  **_provenance(run_dir, nb.stem, step["done"], seconds, now, made["parameters"])}
        print(f"[{i}/{len(chosen)}] {nb.stem} done in {seconds:.1f} s "
              f"(elapsed {time.perf_counter() - run_start:.1f} s)", flush=True)
        record = _record(profile, root, stages_record, steps, unused)
        write_json(record_path, record)  # after every stage: a later failure keeps what finished
    return record


def _check_outputs(stage: str, step: dict, run_dir: Path) -> dict:
    """The stage's record, once it has written the files it promises with the key the plan expected."""
    cfg: StageParams = step["params"]
    unwritten = [f for f in cfg.writes if not (run_dir / f).exists()]
    rec = read_record(run_dir, stage)
    if unwritten or rec is None:
        what = ", ".join(unwritten) if unwritten else f"its record {run_dir}/stages/{stage}.json"
        raise RunError(f"stage {stage} finished without writing {what} in {run_dir}, which later stages read "
                       f"(its parameters' `writes` and `record`)")
    if rec["key"] != step["key"]:
        raise RunError(f"stage {stage} recorded key {rec['key'][:12]}, not the {step['key'][:12]} its parameters "
                       f"give: its notebook ran with other parameters than the runner injected, or the code of its `code` "
                       f"modules changed while the run went on")
    return rec


def _record(profile: Profile, root: Path, stages_record: dict, steps: dict, unused: dict) -> dict:
    """The run record: profile, commit, versions, lock, device, every stage's seconds and the parameters
    the outputs were made with (each stage's from its record; one that stages hold at different values
    is given per stage). `as_requested` is false for a stage whose outputs are not what the parameters
    asked for would give (one not rerun after a change); `unused` lists the overrides no stage of the
    run used, which are not recorded as the run's."""
    for name, entry in stages_record.items():
        entry["as_requested"] = name not in steps or entry.get("key") == steps[name]["key"]
    values: dict[str, dict[str, Any]] = {}
    for stage, entry in stages_record.items():
        for key, value in entry.get("parameters", {}).items():
            values.setdefault(key, {})[stage] = value
    made = {k: next(iter(v.values())) if len({repr(x) for x in v.values()}) == 1 else v for k, v in values.items()}
    return {
        "profile": profile.name,
        "description": profile.description,
        "parameters": dict(sorted(made.items())),
        "unused": unused,
        "git_commit": git_commit(),
        "versions": versions(),
        "lock": lock.status(root / lock.LOCK_FILE),
        "device": device.describe(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "stages": dict(sorted(stages_record.items())),
        "total_seconds": round(sum(s["seconds"] for s in stages_record.values()), 2),
    }


def unused_overrides(overrides: list[str], params: dict, running: list[StageParams]) -> dict:
    """The `--set` parameters that no stage of this run uses, each warned about once before it starts."""
    used = {name for cfg in running for name in cfg.names()}
    unused = {k: params[k] for k in sorted({item.partition("=")[0] for item in overrides}) if k not in used}
    for key, value in unused.items():
        print(f"warning: {key}={value!r} is set, but no stage of this run uses it (used by "
              f"{', '.join(stage_params.users(key))}); the record keeps what their outputs were made with",
              flush=True)
    return unused


def _provenance(run_dir: Path, stage: str, reused: bool, seconds: float, date: str, parameters: dict) -> dict:
    """Whether a stage computed its outputs or reused finished work (it was done before it ran), and when
    that work was done.

    The seconds and date of the run that computed it come from `runs/<profile>/computed.json`, which
    records every stage that computed, with its parameters (the budget check scales from them).
    """
    ledger_path = run_dir / "computed.json"
    ledger = read_json(ledger_path) if ledger_path.exists() else {}
    if not reused:
        ledger[stage] = {"seconds": round(seconds, 2), "date": date, "parameters": parameters}
        write_json(ledger_path, ledger)
        return {"reused": False}
    original = ledger.get(stage, {})
    return {"reused": True, "computed_seconds": original.get("seconds"), "computed_date": original.get("date")}


def stage_params_at(profile_name: str, stage: str, overrides: list[str] | None = None) -> StageParams:
    """A stage's parameters at a profile with `key=value` overrides (checked as `run` checks them), for
    the commands that run one stage without its notebook."""
    params = resolve_parameters(load_profile(profile_name), overrides or [])
    return stage_params.params_of(stage).from_params(params)
