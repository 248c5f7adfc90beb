"""Sphinx configuration of the sklearn_metricaudio documentation site (``make docs``).

Builds offline: no intersphinx, no remote images. The API pages come from the docstrings
(autosummary + numpydoc), the gallery from ``examples/`` (sphinx-gallery; only the examples
that run in seconds without real recordings are executed, on tiny settings, see
``_gallery.py``), the other pages from reST and Markdown (MyST).
"""

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))                    # _gallery.py (sphinx-gallery's hooks)
sys.path.insert(0, str(HERE.parent))             # the package, when it is not installed
os.environ.setdefault("MPLBACKEND", "Agg")

import sklearn_metricaudio  # noqa: E402
from _gallery import EXECUTED  # noqa: E402

project = "sklearn_metricaudio"
author = "sklearn_metricaudio developers"
copyright = "sklearn_metricaudio developers"
version = release = sklearn_metricaudio.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.json", "auto_examples/*.md5", "sg_execution_times.rst"]

# API pages: one per public name, written from the docstrings at build time into the
# git-ignored api/generated/
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"                       # the numpydoc sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False              # the class template lists the members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Markdown pages (README-style notes in docs/)
myst_heading_anchors = 3

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"sklearn_metricaudio {release}"
html_theme_options = {"description": "metric-learning classification of environmental sounds",
                      "fixed_sidebar": True, "show_relbars": True}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}

# The gallery. Executed: the examples that need no real recordings and run in seconds on
# the tiny settings _gallery.reset_argv gives them; the others are rendered, not run.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": re.escape(os.sep) + "(" + "|".join(EXECUTED) + r")\.py$",
    "ignore_pattern": r"(^|" + re.escape(os.sep) + r")_",
    "reset_argv": "_gallery.reset_argv",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "image_scrapers": ("matplotlib",),
    "plot_gallery": "True",
    "backreferences_dir": None,
    "doc_module": (),
    "show_memory": False,
    "show_signature": False,
    "capture_repr": (),
    "matplotlib_animations": False,
}


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out what classes inherit from scikit-learn (its docstrings point at its own
    site) and the generated ``set_*_request`` methods of metadata routing."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] in ("sklearn", "builtins", "abc"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
