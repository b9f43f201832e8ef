"""Each stage's parameters, its key and its record: what a stage's outputs were made with, decided once.

A stage is one chapter (one notebook). It owns one frozen dataclass of parameters (a `StageParams`)
whose field names are the profile parameters it uses. Its defaults are the base of every profile: a
profile file (`xrfnb/profiles/*.yml`) lists only its differences, and the notebook's `parameters` cell
repeats the defaults for papermill (a test checks that they agree).

A stage's **key** hashes what its stored outputs depend on: its keyed parameters (not those that only
say how to run it, such as `workers`, or what its chapter draws), a fingerprint of the code that
computes them (its modules' syntax trees without docstrings, so a comment or docstring edit changes
nothing), the keys of the stages whose files it reads, and the content of files its parameters name. When a stage finishes it
writes `runs/<profile>/stages/<stage>.json` with its key and every parameter. A stage is **done** when
that record's key equals the key of the configuration asked for and its files exist: the stage itself,
the runner, a chapter's prerequisites and the time budget all ask this one question.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import functools
import hashlib
import importlib
import inspect
import json
import re
import typing
from pathlib import Path
from typing import Any, ClassVar, Mapping

from .io import read_json, write_json

RECORDS = "stages"  # folder of the stage records inside a run directory


class ParameterError(ValueError):
    """A parameter that no stage knows, or a value of the wrong type or range; the message names both."""


@dataclasses.dataclass(frozen=True)
class StageParams:
    """Base of every stage's parameters. Subclasses declare their fields and these class attributes:

    stage : the stage (notebook stem), e.g. "03_synthetic_maxrf".
    after : the stages whose outputs it reads (their keys are part of its key).
    reads, writes : files under `runs/<profile>/` the stage reads and writes (the first written is its
        main artifact); a test checks that every file read is written by a stage of `after`.
    code : the modules whose code computes the outputs (their fingerprint is part of the key).
    unkeyed : parameters that do not change the stored outputs (how to run, what the chapter shows).
    """

    stage: ClassVar[str] = ""
    after: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    code: ClassVar[tuple[str, ...]] = ()
    unkeyed: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(self.stage, f.name, getattr(self, f.name), hints[f.name]))
        self.validate()

    def validate(self) -> None:
        """Range and choice checks of a subclass; raise `ParameterError` naming the parameter."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dataclasses.asdict(cls())

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "StageParams":
        """The stage's parameters taken by name from `params` (a run's parameters, or a notebook's
        globals); names the stage does not use are ignored, missing ones keep their defaults."""
        return cls(**{name: params[name] for name in cls.names() if name in params})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def keyed(self) -> dict[str, Any]:
        """The parameters the stored outputs depend on."""
        return {k: v for k, v in self.as_dict().items() if k not in self.unkeyed}

    def content(self) -> dict[str, str]:
        """Hashes of files the parameters name (a palette file, a seed folder); none by default."""
        return {}

    def key(self, upstream: Mapping[str, str]) -> str:
        """The key of the outputs these parameters make from inputs with keys `upstream` ({stage: key})."""
        payload = {"stage": self.stage, "code": code_fingerprint(*self.code), "parameters": self.keyed(),
                   "upstream": dict(sorted(upstream.items())), "content": self.content()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def current_key(self, run: Path) -> str:
        """The key for this run directory's inputs as their stages recorded them; a missing input
        stage is named in one line."""
        upstream = {}
        for stage in self.after:
            rec = read_record(run, stage)
            if rec is None:
                raise FileNotFoundError(f"{self.stage} reads the outputs of {stage}, which {run} does not hold "
                                        f"(run that stage first)")
            upstream[stage] = rec["key"]
        return self.key(upstream)

    def done(self, run: Path) -> bool:
        """Whether `run` holds this stage's outputs made with these parameters from its current inputs."""
        try:
            return self.holds(run, self.current_key(run))
        except FileNotFoundError:
            return False

    def holds(self, run: Path, key: str) -> bool:
        """Whether `run` holds this stage's files, recorded with `key`: the one test of "done"."""
        rec = read_record(run, self.stage)
        return rec is not None and rec.get("key") == key and all((Path(run) / f).exists() for f in self.writes)

    def record(self, run: Path, key: str, **facts: Any) -> dict:
        """Write the stage record (key, every parameter, the upstream keys and `facts`) once the outputs exist."""
        rec = {"stage": self.stage, "key": key, "parameters": self.as_dict(),
               "keyed": sorted(self.keyed()),
               "upstream": {s: read_record(run, s)["key"] for s in self.after if read_record(run, s)},
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **facts}
        write_json(record_path(run, self.stage), rec)
        return rec


def record_path(run: Path, stage: str) -> Path:
    return Path(run) / RECORDS / f"{stage}.json"


def read_record(run: Path, stage: str) -> dict | None:
    """A stage's record in a run directory, or None (also for an unreadable one: the stage runs again)."""
    path = record_path(run, stage)
    try:
        return read_json(path) if path.exists() else None
    except (OSError, ValueError):
        return None


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(stage: str, name: str, value: Any, hint: Any) -> Any:
    """`value` as type `hint` (an int accepted for a float, a list for a tuple); else a ParameterError."""
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        (item,) = set(typing.get_args(hint)) - {Ellipsis} or {Any}
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{stage}: parameter {name} expects a list, got {value!r}")
        return origin(_checked(stage, name, v, item) for v in value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (isinstance(value, bool) and hint is not bool):
        raise ParameterError(f"{stage}: parameter {name} expects {hint.__name__}, got {value!r}")
    return value


def positive(stage: str, **values: float) -> None:
    """Refuse a non-positive value, naming the stage and the parameter."""
    for name, value in values.items():
        if value <= 0:
            raise ParameterError(f"{stage}: parameter {name} must be positive, got {value!r}")


def one_of(stage: str, name: str, value: str, known: tuple[str, ...]) -> None:
    """Refuse a value outside `known`, listing the known ones."""
    if value not in known:
        raise ParameterError(f"{stage}: parameter {name}={value!r} is not one of {', '.join(known)}")



def code_fingerprint(*modules: str) -> str:
    """A hash of what the named modules compute, not of where they live: each module's syntax tree with
    docstrings removed (a comment, docstring or line layout changes nothing); without its imports of the
    package's own modules, whose code the stage's `code` list hashes, and with the package's module paths in
    strings blanked (a move or rename changes nothing); the modules' hashes sorted (their order changes
    nothing). Any change to the code itself, or to its imports from other libraries, does."""
    digests = sorted(source_digest(inspect.getsource(importlib.import_module(name))) for name in modules)
    return hashlib.sha256("".join(digests).encode()).hexdigest()


PACKAGE_PATH = re.compile(r"xrfnb(\.\w+)+")  # a module of this package named in a string, e.g. "xrfnb.synthetic.synth"


class _Placeless(ast.NodeTransformer):
    """Removes from a syntax tree what says where code lives rather than what it computes."""

    def visit(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        return super().visit(node)

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        return None if any(PACKAGE_PATH.fullmatch(a.name) or a.name == "xrfnb" for a in node.names) else node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        own = node.level > 0 or (node.module or "").split(".")[0] == "xrfnb"
        return None if own else node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str) and PACKAGE_PATH.fullmatch(node.value):
            return ast.Constant("<module>")
        return node


@functools.lru_cache(maxsize=256)
def source_digest(source: str) -> str:
    """The hash of one module's source as `code_fingerprint` sees it (computed once per source text: every
    training and stage key of a chapter hashes the same modules again)."""
    tree = _Placeless().visit(ast.parse(source))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()
