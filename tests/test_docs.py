"""The documentation site's sources: API pages for every public name, gallery-ready examples,
paper pages that quote only numbers measured or published. Fast: nothing here runs Sphinx
(``make docs`` does, with warnings as errors)."""

import ast
import importlib
import re
import xml.dom.minidom
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = ["sklearn_metricaudio"] + [f"sklearn_metricaudio.{sub}" for sub in
                                      ("features", "models", "datasets", "augment", "evaluation",
                                                  "deploy")]


def documented_names():
    """Fully qualified names listed in the autosummary tables of docs/api/*.rst."""
    names = set()
    for page in sorted((DOCS / "api").glob("*.rst")):
        module, in_table = None, False
        for line in page.read_text().splitlines():
            if m := re.match(r"\.\. currentmodule:: (\S+)", line):
                module = m.group(1)
            elif line.startswith(".. autosummary::"):
                in_table = True
            elif in_table and re.match(r"   \w+$", line):
                names.add(f"{module}.{line.strip()}")
            elif in_table and line and not line.startswith(" "):
                in_table = False
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_has_an_api_page(package):
    top = importlib.import_module("sklearn_metricaudio")
    mod = importlib.import_module(package)
    documented = documented_names()
    missing = []
    for name in mod.__all__:
        reexported = name in top.__all__ and getattr(top, name) is getattr(mod, name)
        if f"{package}.{name}" not in documented and not (
                reexported and f"sklearn_metricaudio.{name}" in documented):
            missing.append(name)
    assert not missing, f"add to docs/api/index.rst under {package}: {missing}"


def test_every_api_entry_exists():
    """A stale entry (a renamed or removed name) would fail the build: catch it here."""
    for full in sorted(documented_names()):
        module, name = full.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), name), full


def _docstring(path):
    return ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.stem)
def test_every_example_opens_with_a_rest_title(path):
    """sphinx-gallery takes the first docstring's title; without one the build fails."""
    lines = _docstring(path).strip("\n").splitlines()
    assert len(lines) >= 2 and lines[0].strip(), f"{path.name}: no title line"
    assert re.fullmatch(r"=+", lines[1]) and len(lines[1]) >= len(lines[0]), (
        f"{path.name}: the docstring must start with a title underlined by '=' (as long as it)")


def test_gallery_executes_existing_examples_on_tiny_settings():
    import sys
    sys.path.insert(0, str(DOCS))
    try:
        gallery = importlib.import_module("_gallery")
    finally:
        sys.path.remove(str(DOCS))
    stems = {p.stem for p in (ROOT / "examples").glob("*.py")}
    assert set(gallery.EXECUTED) <= stems
    for stem in gallery.EXECUTED:
        argv = gallery.reset_argv({}, {"src_file": str(ROOT / "examples" / f"{stem}.py")})
        assert "--epochs" not in argv or argv[argv.index("--epochs") + 1] == "1", stem


def test_user_guide_shows_the_data_flow_picture():
    guide = (DOCS / "user_guide.rst").read_text()
    assert ".. figure:: _static/dataflow.svg" in guide
    svg = xml.dom.minidom.parse(str(DOCS / "_static" / "dataflow.svg"))
    text = " ".join(t.firstChild.data for t in svg.getElementsByTagName("text"))
    for step in ("AudioLoader", "LogMelPatches", "MarginEmbeddingClassifier",
                 "CentroidClassifier", "report"):
        assert step in text


PAPERS = ROOT.parent / "shared" / "papers"


@pytest.mark.parametrize("page", sorted((DOCS / "papers").glob("*.rst")), ids=lambda p: p.stem)
def test_paper_pages_quote_only_recorded_numbers(page):
    """Every decimal number on a paper page is in benchmarks/RESULTS.md or the paper's text."""
    if not PAPERS.is_dir():
        pytest.skip("the papers' texts (../shared/papers) are not here")
    sources = (ROOT / "benchmarks" / "RESULTS.md").read_text() + "".join(
        p.read_text() for p in PAPERS.glob("*.txt"))
    known = set(re.findall(r"\d+\.\d+", sources))
    numbers = set(re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", page.read_text()))
    assert not numbers - known, f"{page.name}: numbers found nowhere: {sorted(numbers - known)}"


def test_own_sounds_page_shows_commands_the_shell_accepts():
    """Every command of "Your own sounds" parses with the real parser (a renamed option or
    subcommand breaks the page), and the page covers the whole path."""
    import shlex

    from sklearn_metricaudio.cli import build_parser

    page = (DOCS / "own_sounds.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", page, flags=re.S)
    lines = [line for block in blocks for line in block.splitlines() if line.strip()]
    scripts = [shlex.split(c)[1] for c in lines if c.startswith("python ")]
    assert scripts and all((ROOT / s).is_file() for s in scripts), scripts
    commands = [c for c in lines if not c.startswith("python ")]
    assert {shlex.split(c)[1] for c in commands} == {"evaluate", "fit", "predict", "enroll",
                                                     "calibrate"}
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "metricaudio"
        parser.parse_args(argv[1:])   # SystemExit(2) on an unknown option
    assert "own_sounds" in (DOCS / "index.md").read_text()   # in the table of contents
    assert "examples/your_own_sounds.py" in page
