"""The book's launch-button extension: launch buttons open the source notebook, downloads keep the executed copy."""

import importlib.util

from sphinx.builders.html._assets import _JavaScript

from conftest import ROOT

spec = importlib.util.spec_from_file_location("launch_source", ROOT / "book" / "_ext" / "launch_source.py")
launch_source = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launch_source)


def test_only_launch_buttons_point_at_the_source_notebook():
    executed = "book/executed/06_train_smalluvit.ipynb"
    context = {"header_buttons": [
        {"label": "download-buttons", "buttons": [{"url": f"../../_sources/{executed}"}]},
        {"label": "launch-buttons", "buttons": [
            {"url": f"https://mybinder.org/v2/gh/xrfnb/xrfnb/main?urlpath=lab/tree/{executed}"},
            {"url": f"https://colab.research.google.com/github/xrfnb/xrfnb/blob/main/{executed}"}]},
    ]}
    launch_source.retarget_launch_buttons(None, "page", "page.html", context, None)
    download, launch = context["header_buttons"]
    assert download["buttons"][0]["url"].endswith(executed)
    assert all(b["url"].endswith("notebooks/06_train_smalluvit.ipynb") for b in launch["buttons"])


def test_a_script_added_twice_by_sphinx_is_written_once():
    body = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript(None, body=body), _JavaScript("doctools.js"), _JavaScript("", body=body)]
    context = {"script_files": scripts}
    launch_source.drop_duplicate_scripts(None, "page", "page.html", context, None)
    assert [s.filename for s in context["script_files"]] == [None, "doctools.js"]
