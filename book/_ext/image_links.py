"""Every figure opens at full size: an image that is not a link already becomes a link to its own file.

Sphinx links only the images given a width or scale (`html_scaled_image_link`); a wide figure in a
notebook output or a Markdown page is shrunk to the column, on a phone to a quarter of its pixels, and
its labels cannot be read unless the reader can open it. This does for every image what Sphinx does
for scaled ones, with the same link target (the copy under `_images/`).
"""

from __future__ import annotations

import posixpath

from docutils import nodes
from sphinx.util.osutil import relative_uri


def chosen_file(app, image: nodes.image) -> str | None:
    """The source file Sphinx will copy for an image (as its builder picks among candidates), if local."""
    candidates = image.get("candidates", {})
    if "?" in candidates:  # a remote image
        return None
    if "*" in candidates:
        return image["uri"]
    return next((candidates[kind] for kind in app.builder.supported_image_types if kind in candidates), None)


def link_images(app, doctree, docname: str) -> None:
    if app.builder.format != "html":
        return
    imgpath = relative_uri(app.builder.get_target_uri(docname), app.builder.imagedir)
    for image in list(doctree.findall(nodes.image)):
        source = chosen_file(app, image)
        if isinstance(image.parent, nodes.reference) or source not in app.env.images:
            continue
        link = nodes.reference("", "", internal=True, refuri=posixpath.join(imgpath, app.env.images[source][1]))
        image.replace_self(link)
        link.append(image)


def setup(app):
    app.connect("doctree-resolved", link_images)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
