"""Point the book's launch buttons at the source notebooks (`notebooks/NN.ipynb`), not the executed copies.

The book renders `book/executed/NN.ipynb`, which papermill generates with outputs; a reader who launches
a page in Binder or JupyterHub should get the clean, parameterised source instead.
"""

EXECUTED, SOURCE = "book/executed/", "notebooks/"


def _retarget(node):
    if isinstance(node, dict):
        return {k: (v.replace(EXECUTED, SOURCE) if k == "url" and isinstance(v, str) else _retarget(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    return node


def retarget_launch_buttons(app, pagename, templatename, context, doctree):
    if "header_buttons" in context:
        context["header_buttons"] = _retarget(context["header_buttons"])


def setup(app):
    app.connect("html-page-context", retarget_launch_buttons, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
