"""UrbanSound8K: read a user's copy in the official layout; predefined folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._csv import read_rows
from ._folds import predefined_fold_cv
from ._layout import US8K_CSV

__all__ = ["load_urbansound8k", "urbansound8k_cv", "US8K_CLASSES", "PAPER8_CLASSES"]

#: classID -> class name, as in the official metadata.
US8K_CLASSES = {
    0: "air_conditioner", 1: "car_horn", 2: "children_playing", 3: "dog_bark", 4: "drilling",
    5: "engine_idling", 6: "gun_shot", 7: "jackhammer", 8: "siren", 9: "street_music",
}
#: The 8 sources of the paper (Zucatelli & Barioni, 2022), in classID order.
PAPER8_CLASSES = ("air_conditioner", "car_horn", "dog_bark", "drilling", "engine_idling",
                  "jackhammer", "siren", "street_music")

_COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
_SALIENCE = {"foreground": 1, "background": 2}


def _resolve_classes(classes):
    if isinstance(classes, str):
        if classes == "paper8":
            return list(PAPER8_CLASSES)
        if classes == "all":
            return [US8K_CLASSES[k] for k in sorted(US8K_CLASSES)]
        classes = [classes]
    classes = list(classes)
    unknown = [c for c in classes if c not in US8K_CLASSES.values()]
    if unknown:
        raise ValueError(
            f"unknown class name(s) {unknown} in classes=; expected 'paper8', 'all' or names "
            f"from {sorted(US8K_CLASSES.values())}"
        )
    if not classes:
        raise ValueError("classes= selects no class")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes= lists a class twice: {classes}")
    return classes


def load_urbansound8k(root, *, classes="paper8", salience="foreground", check_files=True):
    """Load the file list of an UrbanSound8K copy in the official layout.

    Reads ``root/metadata/UrbanSound8K.csv`` (columns slice_file_name, fsID,
    start, end, salience, fold, classID, class) and points at
    ``root/audio/fold<k>/<slice_file_name>``. Audio is decoded later, by
    :class:`~sklearn_metricaudio.AudioLoader`, so the Bunch is cheap.

    Parameters
    ----------
    root : str or path-like
        The directory that holds ``metadata/`` and ``audio/``.
    classes : "paper8", "all" or list of str, default="paper8"
        "paper8" is the paper's 8 sources (air_conditioner, car_horn,
        dog_bark, drilling, engine_idling, jackhammer, siren, street_music).
    salience : "foreground", "background" or None, default="foreground"
        Keep clips of that salience only (``None``: all).
    check_files : bool, default=True
        Raise if a listed audio file is missing.

    Returns
    -------
    Bunch
        ``filenames`` (str paths), ``target`` (int index into
        ``target_names``), ``target_names`` (the selected classes in the
        order given, classID order for the presets), ``fold`` (1-10),
        ``salience`` (1 foreground, 2 background), ``fsID`` (Freesound id of
        the source recording), ``class_id`` (official classID), ``DESCR``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_metricaudio import make_urban_sounds, load_urbansound8k
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_urban_sounds(tmp + "/us8k", n_per_class=2, n_folds=2, random_state=0)
    ...     data = load_urbansound8k(tmp + "/us8k")
    >>> len(data.filenames), list(data.target_names[:2]), sorted(set(data.fold.tolist()))
    (16, ['air_conditioner', 'car_horn'], [1, 2])
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"UrbanSound8K root directory not found: '{root}'")
    csv_path = root / US8K_CSV
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"UrbanSound8K metadata not found: expected '{csv_path}' (official layout: "
            "metadata/UrbanSound8K.csv and audio/fold1..fold10/)"
        )
    names = _resolve_classes(classes)
    if salience is not None and salience not in _SALIENCE:
        raise ValueError(f"salience must be 'foreground', 'background' or None, got {salience!r}")

    rows = read_rows(csv_path, _COLUMNS)

    name_to_target = {n: i for i, n in enumerate(names)}
    filenames, target, fold, sal, fsid, class_id = [], [], [], [], [], []
    for line, row in enumerate(rows, start=2):
        try:
            cid, f, s = int(row["classID"]), int(row["fold"]), int(row["salience"])
            fs = int(row["fsID"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"'{csv_path}' line {line}: non-integer classID/fold/salience/fsID "
                             f"({exc})") from None
        cname = row["class"] or US8K_CLASSES.get(cid)
        if cname not in name_to_target:
            continue
        if salience is not None and s != _SALIENCE[salience]:
            continue
        filenames.append(str(root / "audio" / f"fold{f}" / row["slice_file_name"]))
        target.append(name_to_target[cname])
        fold.append(f)
        sal.append(s)
        fsid.append(fs)
        class_id.append(cid)

    if not filenames:
        raise ValueError(f"'{csv_path}' holds no clip of classes {names} with salience={salience!r}")
    if check_files:
        absent = [p for p in filenames if not Path(p).is_file()]
        if absent:
            raise FileNotFoundError(
                f"{len(absent)} audio file(s) listed in '{csv_path}' are missing, e.g. '{absent[0]}'"
            )
    return Bunch(
        filenames=np.asarray(filenames, dtype=object),
        target=np.asarray(target, dtype=np.int64),
        target_names=np.asarray(names, dtype=object),
        fold=np.asarray(fold, dtype=np.int64),
        salience=np.asarray(sal, dtype=np.int64),
        fsID=np.asarray(fsid, dtype=np.int64),
        class_id=np.asarray(class_id, dtype=np.int64),
        DESCR=f"UrbanSound8K at {root}: {len(filenames)} clips, classes {names}, "
              f"salience={salience}",
    )


def urbansound8k_cv(fold):
    """Predefined-fold cross-validation: test split ``k`` is the clips of fold ``k``.

    The paper's name for :func:`~sklearn_metricaudio.predefined_fold_cv`,
    which works the same way for any data set with a fold column.

    Parameters
    ----------
    fold : array-like of int, shape (n_clips,)
        The ``fold`` column of a loaded data set.

    Returns
    -------
    sklearn.model_selection.PredefinedSplit

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio import urbansound8k_cv
    >>> cv = urbansound8k_cv([1, 2, 1, 3])
    >>> [test.tolist() for _, test in cv.split()]
    [[0, 2], [1], [3]]
    """
    return predefined_fold_cv(fold)
