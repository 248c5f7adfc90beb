"""load_dataset: any supported data set copy, recognised by its layout."""

from __future__ import annotations

from pathlib import Path

from ._layout import detect_layout
from .esc50 import load_esc50
from .urbansound8k import load_urbansound8k

__all__ = ["load_dataset", "detect_layout"]

_CLIP_SECONDS = {"UrbanSound8K": 4.0, "ESC-50": 5.0, "ESC-10": 5.0}


def load_dataset(root, *, subset=None, salience="foreground", classes="paper8"):
    """Load UrbanSound8K, ESC-50 or ESC-10 from ``root``, whichever layout it holds.

    Parameters
    ----------
    root : str or path-like
    subset : {"esc50", "esc10"} or None, default=None
        ESC copies only: all 50 classes or the ESC-10 subset. ``None``: what the
        copy holds (ESC-50 for an ESC-50 copy, ESC-10 for class folders).
    salience : {"foreground", "background", "all"}, default="foreground"
        UrbanSound8K only (ESC has no salience column).
    classes : "paper8", "all" or list of str, default="paper8"
        UrbanSound8K only: the paper's 8 sources by default.

    Returns
    -------
    Bunch
        The loader's Bunch (:func:`load_urbansound8k` or :func:`load_esc50`) with two
        more fields: ``name`` ("UrbanSound8K", "ESC-50" or "ESC-10") and
        ``clip_seconds`` (the data set's clip length: 4 or 5).

    Raises
    ------
    FileNotFoundError, ValueError
        No such directory, no known layout, or an option that does not fit the layout
        (``subset`` on UrbanSound8K, ``salience`` on ESC).

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_metricaudio import make_urban_sounds
    >>> from sklearn_metricaudio.datasets import load_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_urban_sounds(tmp, n_per_class=2, n_folds=2, random_state=0)
    ...     data = load_dataset(tmp)
    >>> data.name, data.clip_seconds, len(data.filenames)
    ('UrbanSound8K', 4.0, 16)
    """
    layout = detect_layout(root)
    root = Path(root).expanduser()
    if layout == "urbansound8k":
        if subset is not None:
            raise ValueError(f"subset={subset!r} is for ESC copies; '{root}' is UrbanSound8K")
        if salience not in ("foreground", "background", "all"):
            raise ValueError(f"salience must be 'foreground', 'background' or 'all', got "
                             f"{salience!r}")
        data = load_urbansound8k(root, classes=classes,
                                 salience=None if salience == "all" else salience)
        name = "UrbanSound8K"
    else:
        if salience != "foreground":
            raise ValueError(f"salience={salience!r}: salience is an UrbanSound8K column; "
                             f"'{root}' is an ESC copy")
        if classes != "paper8":
            raise ValueError(f"classes={classes!r} selects UrbanSound8K classes; '{root}' is an "
                             "ESC copy (use subset='esc10' or 'esc50')")
        subset = subset or layout
        data = load_esc50(root, subset=subset)
        name = {"esc50": "ESC-50", "esc10": "ESC-10"}[subset]
    data.name = name
    data.clip_seconds = _CLIP_SECONDS[name]
    return data
