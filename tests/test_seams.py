"""One-way seams: the science never imports the pipeline, no module keeps values between calls, and a
notebook's header only displays (building missing inputs is its own line)."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

from xrfnb.pipeline import book, runner

from conftest import ROOT

PACKAGE = ROOT / "xrfnb"
MUTATING = {"append", "extend", "insert", "update", "setdefault", "add", "pop", "popitem", "clear", "remove",
            "discard"}


def modules(under: Path = PACKAGE) -> list[Path]:
    return sorted(under.rglob("*.py"))


def imported(tree: ast.Module, path: Path) -> set[str]:
    """The absolute names of the modules `tree` imports (relative imports resolved from `path`)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def test_no_science_module_imports_the_pipeline():
    upward = {str(path.relative_to(ROOT)): sorted(n for n in imported(ast.parse(path.read_text()), path)
                                                  if n.startswith("xrfnb.pipeline"))
              for path in modules() if "pipeline" not in path.relative_to(PACKAGE).parts}
    assert not {k: v for k, v in upward.items() if v}


def module_state_writes(source: str) -> list[str]:
    """Where a function writes a module-level name's contents: `NAME[k] = v`, `NAME.update(...)`, `global`."""
    tree = ast.parse(source)
    names = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    found = []
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        local = {a.arg for a in fn.args.args + fn.args.kwonlyargs} | {
            t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        shared = names - local
        for node in ast.walk(fn):
            if isinstance(node, ast.Global):
                found.append(f"line {node.lineno}: global {', '.join(node.names)}")
            elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del))
                  and isinstance(node.value, ast.Name) and node.value.id in shared):
                found.append(f"line {node.lineno}: {node.value.id}[...] written")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in MUTATING and isinstance(node.func.value, ast.Name)
                  and node.func.value.id in shared):
                found.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}(...)")
    return found


def test_the_state_check_sees_a_module_dict_filled_by_a_function():
    assert module_state_writes("VALUES = {}\ndef remember(k, v):\n    VALUES[k] = v\n") == [
        "line 3: VALUES[...] written"]
    assert module_state_writes("SEEN = []\ndef f(x):\n    SEEN.append(x)\n") == ["line 3: SEEN.append(...)"]
    assert module_state_writes("N = {}\ndef f(x):\n    N = {}\n    N[x] = 1\n") == []  # a local of that name


def test_no_module_keeps_values_between_calls():
    found = {str(p.relative_to(ROOT)): module_state_writes(p.read_text()) for p in modules()}
    assert not {k: v for k, v in found.items() if v}


def setup_cells(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code" and "book.header(" in c.source]


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
def test_each_notebook_builds_its_inputs_on_its_own_line_before_the_header(notebook):
    (source,) = setup_cells(ROOT / "notebooks" / notebook)
    lines = source.splitlines()
    opened = [i for i, line in enumerate(lines) if re.match(rf'runner\.open_stage\(profile, "{notebook}"\)', line)]
    header = [i for i, line in enumerate(lines) if line == f'book.header(profile, "{notebook}")']
    assert opened and header and opened[0] < header[0], source
    assert "book.glue(" not in (ROOT / "notebooks" / notebook).read_text()  # values go to the page's `glued`


def test_the_header_only_displays(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/xrfnb\n")
    monkeypatch.setenv("XRFNB_ROOT", str(tmp_path))
    monkeypatch.delenv(runner.UNDER_RUNNER, raising=False)
    monkeypatch.setattr(runner, "run", lambda *a, **k: pytest.fail("the header started a run"))
    monkeypatch.setattr(runner, "open_stage", lambda *a, **k: pytest.fail("the header built inputs"))
    book.header("smoke", "06_train_smalluvit.ipynb")  # 01 to 05 are missing: nothing is built
    (html,) = shown
    assert "<code>smoke</code> profile" in html.data and "06_train_smalluvit.ipynb" in html.data
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("profile", ["smoke", "laptop", "lite", "paper"])
def test_the_produced_by_box_renders_its_description_and_claims_no_unmeasured_time(profile, monkeypatch):
    """Every "Produced by" box showed "`compare_epochs`" with its backticks and "sized for about 90 minutes"
    beside a measured 7,181 s (issue 37): the description is rendered, and the time is the record's alone."""
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    book.header(profile, "07_evaluate.ipynb")
    text = re.sub(r"<[^>]+>", "", shown[0].data)
    assert "`" not in text and "*" not in text
    assert not re.search(r"\d+\s*(minutes|hours|s)\b", runner.load_profile(profile).description)
    if "`" in runner.load_profile(profile).description:
        assert "<code>" in shown[0].data.split("</p>", 1)[1]


LONGEST = 550  # "no module past about 500 lines" (issue 33): the generation modules stand at 516 and 524


def test_no_module_is_past_about_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules() if (n := len(p.read_text().splitlines())) > LONGEST}
    assert not long


@pytest.mark.parametrize("notebook", ["01_pigments.ipynb", "02_seed_images.ipynb"])
def test_a_chapter_without_a_model_imports_no_torch_in_the_runners_kernel(notebook, tmp_path):
    """A kernel the runner starts imports its own stage's code alone (`stages.params_of`), names the hardware
    the runner found (`device.DESCRIBED`) and leaves papermill to the runner: chapters 1 and 2 train
    nothing, and importing torch and Lightning in their kernels cost seconds of every first book."""
    import os
    import subprocess
    import sys

    (source,) = setup_cells(ROOT / "notebooks" / notebook)
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/xrfnb\n")
    script = (f'profile = "smoke"\n{source}\nimport sys\nfrom xrfnb import device\nprint(device.describe())\n'
              'print(sorted(m for m in ("torch", "lightning", "nbformat", "papermill") if m in sys.modules))')
    env = {**os.environ, "XRFNB_ROOT": str(tmp_path), runner.UNDER_RUNNER: "1",
           "XRFNB_DEVICE": "CPU: the runner's (2 cores)", "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-2:] == ["CPU: the runner's (2 cores)", "[]"], out.stdout
