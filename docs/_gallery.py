"""sphinx-gallery's hooks for ``make docs`` (imported by ``conf.py``; not part of the package).

Which examples the build executes, and the tiny settings it runs them with: the build must
take minutes on a 2-core CPU and needs no real recordings. The other examples (real data,
a GPU, or minutes of training) are rendered without running.
"""

from pathlib import Path

#: Examples executed at build time (stems), each with the command-line arguments it gets.
TINY_ARGS = {
    "baselines_on_synthetic": ["--n-per-class", "3", "--n-folds", "3"],
    "deploy_model": ["--n-per-class", "4", "--n-folds", "2", "--epochs", "1"],
    "grid_search_margins": ["--n-per-class", "4", "--n-folds", "2", "--epochs", "1",
                            "--losses", "softmax", "cosface", "--margins", "0.2", "0.35"],
    "ins_analysis": ["--n-clips", "3", "--seconds", "0.5", "--n-surrogates", "10"],
    "pipeline": ["--n-per-class", "4", "--n-folds", "2", "--epochs", "1"],
    "your_own_sounds": ["--n-per-class", "6", "--epochs", "1"],
}
EXECUTED = tuple(sorted(TINY_ARGS))

# what the executed examples write (data sets, models, figures): under the ignored build tree
WORK = Path(__file__).resolve().parent / "_build" / "gallery_work"

# options whose value is a folder the example writes to
_DIR_OPTIONS = {"baselines_on_synthetic": "--out", "deploy_model": "--out",
                "grid_search_margins": "--data-home", "pipeline": "--data-home",
                "ins_analysis": "--data-home", "your_own_sounds": "--out"}


def reset_argv(gallery_conf, script_vars):
    """``sys.argv[1:]`` for an executed example: its tiny settings and a scratch folder."""
    stem = Path(script_vars["src_file"]).stem
    args = list(TINY_ARGS.get(stem, []))
    if stem in _DIR_OPTIONS:
        folder = WORK / stem
        folder.mkdir(parents=True, exist_ok=True)
        args += [_DIR_OPTIONS[stem], str(folder)]
    return args
