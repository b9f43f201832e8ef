"""Launch buttons that open the source notebooks, and page scripts without duplicates.

1. The book renders `book/executed/NN.ipynb`, which papermill generates with outputs; a reader who
   launches a page in Binder or Colab should get the clean, parameterised source `notebooks/NN.ipynb`.
   Only the launch buttons are retargeted (the site holds no copies of the notebooks: `_config.yml` turns
   `html_copy_source` and the download button off).
2. Sphinx 7.4 (the version jupyter-book 1.0 pins) writes a body-only script twice when an extension
   adds it after the builder started (its `None` and `''` file names compare unequal; fixed upstream in
   sphinx-doc/sphinx#13402). sphinx-thebe's `const THEBE_JS_URL = ...` is such a script, so every page
   logged "Identifier 'THEBE_JS_URL' has already been declared". Each page keeps the first copy only.
"""

EXECUTED, SOURCE = "book/executed/", "notebooks/"
LAUNCH_GROUP = "launch-buttons"  # the label sphinx-book-theme gives its launch dropdown


def _retarget(node):
    """A copy of a header button (or list of them) with its URLs pointing at the source notebook."""
    if isinstance(node, dict):
        return {k: (v.replace(EXECUTED, SOURCE) if k == "url" and isinstance(v, str) else _retarget(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    return node


def retarget_launch_buttons(app, pagename, templatename, context, doctree):
    if "header_buttons" in context:
        context["header_buttons"] = [_retarget(b) if b.get("label") == LAUNCH_GROUP else b
                                     for b in context["header_buttons"]]


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique


def setup(app):
    app.connect("html-page-context", retarget_launch_buttons, priority=900)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
