"""Prose cells: numbers filled in, citations kept for the book and written out for JupyterLab."""

import re

import nbformat
import numpy as np
import pytest

from xrfnb import prose

from conftest import ROOT


def test_glue_roles_are_filled_from_the_glued_values_passed_and_keywords():
    glued = prose.Glued(fwhm=131.27, n=12)
    text = "resolution {glue:text}`fwhm:.1f` eV, {glue:text}`n` pigments, {glue:text}`k:d` clusters"
    shown = prose.bundle(text, glued, k=9)["text/markdown"]
    assert shown == "resolution 131.3 eV, 12 pigments, 9 clusters"


def test_a_value_nothing_glued_names_itself():
    with pytest.raises(prose.MissingValue, match="'floor'.*no cell above glued"):
        prose.fill("off by {glue:text}`floor:.3f`", prose.Glued(other=1.0))


def test_each_notebooks_values_are_its_own():
    """Glued values live in the notebook's own mapping: nothing is left behind for another page."""
    first, second = prose.Glued(), prose.Glued()
    first.glue("n_seeds", np.int64(20))
    assert first == {"n_seeds": 20} and type(first["n_seeds"]) is int  # numpy scalars become numbers
    assert second == {}
    with pytest.raises(prose.MissingValue):
        prose.bundle("{glue:text}`n_seeds` seeds", second)


@pytest.mark.parametrize("value", [0.7839, 12, "ΔE₀₀ 3.1", "pandas"])
def test_a_glued_value_is_written_as_myst_nbs_glue_writes_it(value, monkeypatch):
    """The book finds `{glue:text}` values in the outputs myst-nb's glue writes; the chapters write the same
    output without importing it (its import costs a kernel over a second)."""
    import IPython.display
    import pandas as pd
    from myst_nb.ext import glue as myst

    value = pd.DataFrame({"a": [1.5, 2.0]}) if value == "pandas" else value
    written = []
    monkeypatch.setattr(myst, "ipy_display", lambda *a, **k: written.append((a, k)))
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: written.append((a, k)))
    myst.glue("name", value, display=False)
    prose.Glued().glue("name", value)
    assert len(written) == 2 and written[0] == written[1]


def test_the_book_gets_the_citation_role_and_lab_gets_author_and_year():
    bundle = prose.bundle("The paper {cite:p}`bombini2025recolouring` and {cite:t}`ganx`.")
    assert "{cite:p}`bombini2025recolouring`" in bundle["text/markdown"]
    shown = re.sub("<[^>]+>", "", bundle["text/html"])
    assert "(Bombini et al., 2025)" in shown and "Bombini (n.d.)" in shown
    assert "{cite" not in bundle["text/html"] and "<p>" in bundle["text/html"]


def test_every_source_markdown_cell_is_plain_markdown():
    """MyST roles in a Markdown cell show raw in JupyterLab: such prose belongs in a `prose.show` cell."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, 4).cells):
            if cell.cell_type == "markdown" and re.search(r"\{(glue|cite|eval)[:}]", cell.source):
                found.append(f"{path.name} cell {i}")
    assert not found, f"MyST roles in Markdown cells: {found}"


def test_prose_cells_hide_their_input_in_lab_and_the_book():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type == "code" and "prose.show(" in cell.source:
                assert "remove-input" in cell.metadata.get("tags", []), path.name
                assert cell.metadata.get("jupyter", {}).get("source_hidden"), path.name


def prose_texts(path):
    """A notebook's parameter names and the text of its Markdown and prose cells."""
    cells = nbformat.read(path, 4).cells
    params = next((c.source for c in cells if "parameters" in c.metadata.get("tags", [])), "")
    texts = [c.source for c in cells if c.cell_type == "markdown" or "prose.show(" in c.source]
    return set(re.findall(r"^(\w+)\s*=", params, re.M)), texts


def test_a_parameter_is_named_as_one_never_where_its_value_belongs():
    """"the first `explore_images` test images" shows a name where the reader needs 12 (issue 37): prose
    names a parameter as "the `name` parameter" or "(`name`)" and glues its value where it means the value."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        names, texts = prose_texts(path)
        for text in texts:
            for m in re.finditer(r"(?<!\{glue:text\})(?<!\()`(\w+)`(?! parameter)", text):
                if m.group(1) in names:
                    found.append(f"{path.name}: …{text[max(0, m.start() - 30):m.end() + 20]}…")
    assert not found, found


def test_a_keyword_never_replaces_a_glued_value_with_another():
    """Chapter 6's summary passed the epochs parameter (100) over the glued epochs trained (53) (issue 37)."""
    glued = prose.Glued(uvit_epochs=53)
    assert prose.bundle("{glue:text}`uvit_epochs` epochs", glued, uvit_epochs=53)["text/markdown"] == "53 epochs"
    with pytest.raises(ValueError, match="uvit_epochs differ from the value"):
        prose.bundle("{glue:text}`uvit_epochs` epochs", glued, uvit_epochs=100)


def test_a_comparison_of_two_measured_numbers_says_whether_it_lies_inside_the_interval():
    """0.8150 against 0.8184 inside 0.7823 to 0.8506 is no measurable effect (issue 37)."""
    said = prose.versus(0.8150, 0.8184, (0.7823, 0.8506))
    assert said == ("0.8150 against 0.8184, a difference of -0.0034, inside the 95 % interval of the latter "
                    "(0.7823 to 0.8506): no measurable effect")
    assert "outside" in prose.versus(0.7, 0.8184, (0.7823, 0.8506), of="SmallUViT's ")
    assert "against SmallUViT's 0.82," in prose.versus(0.7, 0.8184, (0.7823, 0.8506), digits=2, of="SmallUViT's ")
    assert prose.inside(0.7823, (0.7823, 0.8506)) and not prose.inside(0.78, (0.7823, 0.8506))


def rendered_prose(path):
    """The reader's text of a notebook's Markdown and prose cells: rendered as CommonMark, code spans left
    out, tags stripped (glue and citation roles filled with placeholders)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    for cell in nbformat.read(path, 4).cells:
        if cell.cell_type == "code" and "prose.show(" in cell.source:
            text = cell.source.split('r"""', 1)[1].rsplit('"""', 1)[0]
        elif cell.cell_type == "markdown":
            text = cell.source
        else:
            continue
        text = prose.CITE.sub("(ref)", prose.GLUE.sub("1", text))
        yield re.sub(r"<[^>]+>", "", re.sub(r"<code>.*?</code>", "", md.render(text), flags=re.S)), text


def test_no_markdown_marker_reaches_the_reader_and_every_choice_is_a_link():
    """Chapter 6 showed "*[choice]*s" with its asterisks, and "[choice]" was never a link (issue 37)."""
    raw, unlinked = [], []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for plain, source in rendered_prose(path):
            raw += [f"{path.name}: …{plain[max(0, m.start() - 30):m.end() + 10]}…"
                    for m in re.finditer(r"[*`]", plain)]
            unlinked += [path.name for _ in re.finditer(r"\[choices?\](?!\()", source)]
    assert not raw, raw
    assert not unlinked, f"[choice] that is not a link to the choices page: {unlinked}"
