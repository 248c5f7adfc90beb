"""load_dataset: any supported data set copy, recognised by its layout."""

from __future__ import annotations

from pathlib import Path

from ._layout import ESC50_CSV, US8K_CSV
from ._layout import detect_layout as _official_layout
from .esc50 import load_esc50
from .own import AUDIO_EXTENSIONS, class_folders, is_audio_name, load_folder, load_manifest
from .own import walk_files
from .urbansound8k import load_urbansound8k

__all__ = ["load_dataset", "detect_layout"]

_CLIP_SECONDS = {"UrbanSound8K": 4.0, "ESC-50": 5.0, "ESC-10": 5.0}


def _holds_audio(folder):
    return any(is_audio_name(f.rsplit("/", 1)[-1]) for f in walk_files(folder))


def detect_layout(root):
    """Which layout ``root`` holds: "urbansound8k", "esc50", "esc10", "folder" or "manifest".

    Looked for in this order: a ``.csv`` file (any case) is a manifest
    (:func:`~sklearn_metricaudio.load_manifest`); in a directory,
    ``metadata/UrbanSound8K.csv``, ``meta/esc50.csv``, class folders named
    like ``001 - Dog bark``, and last any visible subfolder holding audio files
    (.wav, .flac, .ogg, .mp3, at any depth): one folder per class
    (:func:`~sklearn_metricaudio.load_folder`).

    Parameters
    ----------
    root : str or path-like
        A data set's directory, or a CSV manifest.

    Returns
    -------
    str
        "urbansound8k", "esc50", "esc10", "folder" or "manifest".

    Raises
    ------
    FileNotFoundError
        ``root`` is neither a directory nor a file.
    ValueError
        A file that is not a ``.csv``, or a directory in none of the layouts;
        the message names every marker looked for.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn_metricaudio.datasets import detect_layout
    >>> tmp = tempfile.TemporaryDirectory()
    >>> os.makedirs(os.path.join(tmp.name, "dog", "park"))
    >>> sf.write(os.path.join(tmp.name, "dog", "park", "a.flac"), np.zeros(800), 8000)
    >>> with open(os.path.join(tmp.name, "clips.csv"), "w") as fh:
    ...     _ = fh.write("file,label\\n")
    >>> detect_layout(tmp.name), detect_layout(os.path.join(tmp.name, "clips.csv"))
    ('folder', 'manifest')
    >>> tmp.cleanup()
    """
    root = Path(root).expanduser()
    if root.suffix.lower() == ".csv" and not root.is_dir():
        if not root.is_file():
            raise FileNotFoundError(f"manifest '{root}': no such file")
        return "manifest"
    if root.is_file():
        raise ValueError(f"'{root}' is a file but not a .csv manifest: expected a data set "
                         "directory, or a CSV manifest with columns file,label (and optionally "
                         "fold, group)")
    if not root.is_dir():
        raise FileNotFoundError(f"data set root '{root}': no such directory (nor a .csv "
                                "manifest)")
    try:
        return _official_layout(root)
    except ValueError:
        pass
    if any(_holds_audio(d) for d in class_folders(root)):
        return "folder"
    raise ValueError(
        f"'{root}' is in no layout we know: looked for '{root / US8K_CSV}' (UrbanSound8K), "
        f"'{root / ESC50_CSV}' (ESC-50), class folders named like '001 - Dog bark' (ESC-10) "
        f"and subfolders holding audio files ({', '.join(AUDIO_EXTENSIONS)}): your own "
        "recordings, one folder per class. For a CSV manifest (columns file,label and "
        "optionally fold, group), pass the .csv file's path"
    )


def load_dataset(root, *, subset=None, salience="foreground", classes="paper8"):
    """Load a data set from ``root``, whichever supported layout it holds.

    UrbanSound8K, ESC-50 and ESC-10 in their official layouts, and your own
    recordings: one folder per class (:func:`~sklearn_metricaudio.load_folder`)
    or a CSV manifest (:func:`~sklearn_metricaudio.load_manifest`). See
    :func:`detect_layout` for how they are told apart. This is what
    ``metricaudio evaluate --data PATH`` reads.

    Parameters
    ----------
    root : str or path-like
        The data set's directory, or the path of a ``.csv`` manifest.
    subset : {"esc50", "esc10"} or None, default=None
        ESC copies only: all 50 classes or the ESC-10 subset. ``None``: what the
        copy holds (ESC-50 for an ESC-50 copy, ESC-10 for class folders).
    salience : {"foreground", "background", "all"}, default="foreground"
        UrbanSound8K only (ESC and your own recordings have no salience).
    classes : "paper8", "all" or list of str, default="paper8"
        UrbanSound8K only: the paper's 8 sources by default.

    Returns
    -------
    Bunch
        The loader's Bunch (:func:`load_urbansound8k`, :func:`load_esc50`,
        :func:`load_folder` or :func:`load_manifest`) with a ``name``
        ("UrbanSound8K", "ESC-50", "ESC-10", or your folder's or manifest's
        name) and a ``clip_seconds`` (the data set's clip length: 4 or 5; for
        your own recordings their median length in whole seconds). Your own
        recordings load with the loaders' defaults (5 folds drawn with
        ``random_state=0``, unreadable files left out with a warning); call
        :func:`load_folder` or :func:`load_manifest` to change them.

    Raises
    ------
    FileNotFoundError, ValueError
        No such directory or file, no known layout, or an option that does not
        fit the layout (``subset`` on UrbanSound8K; ``salience`` on ESC;
        ``subset``, a non-default ``salience`` or ``classes`` on your own
        recordings), and whatever the layout's loader raises.

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
    if layout in ("folder", "manifest"):
        what = ("a folder of your own recordings (one folder per class)" if layout == "folder"
                else "a manifest of your own recordings")
        for option, value, default, use in (
                ("subset", subset, None, "ESC copies"),
                ("salience", salience, "foreground", "UrbanSound8K copies"),
                ("classes", classes, "paper8", "UrbanSound8K copies")):
            if not (value is default or (isinstance(value, str) and value == default)):
                raise ValueError(f"{option}={value!r} is for {use}; '{root}' is {what}, which "
                                 f"has no such option (leave {option} at its default)")
        return load_folder(root) if layout == "folder" else load_manifest(root)
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
