"""Users' own labelled recordings: a folder per class, or a CSV manifest.

Both loaders return the Bunch the official loaders return (``filenames``, ``target``,
``target_names``, ``fold``, ``fsID``, ``name``, ``clip_seconds``, ``DESCR``), so the
evaluation code and ``metricaudio evaluate --data PATH`` run on them unchanged. Neither
layout ships folds, so the folds are drawn here with scikit-learn's
:class:`~sklearn.model_selection.StratifiedGroupKFold` over the source recordings, unless
a manifest gives its own.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.utils import Bunch

__all__ = ["load_folder", "load_manifest", "audio_files"]

#: Extensions of the audio files a class folder may hold (compared case-insensitively).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
#: Folders skipped wherever they are (besides hidden ones): macOS archive debris.
_SKIPPED_DIRS = frozenset({"__MACOSX"})
_ON_UNREADABLE = ("warn", "raise")
_N_LISTED = 20  # unreadable files listed in one message
_N_SHOWN = 5  # examples of missing or ignored files in one message
_EXT_TEXT = ", ".join(AUDIO_EXTENSIONS)


# --------------------------------------------------------------------------- folders

def _visible(name):
    return not name.startswith(".") and name not in _SKIPPED_DIRS


def is_audio_name(name):
    """Whether a file name has one of :data:`AUDIO_EXTENSIONS` (any case) and is not hidden."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def walk_files(folder):
    """Relative paths (``/``-separated) of the visible files under ``folder``, sorted.

    Recurses into subfolders (following links, each real folder once), skipping hidden
    files and folders (names starting with ``.``) and ``__MACOSX``.
    """
    folder = os.fspath(folder)
    seen, found = set(), []
    for here, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if _visible(d))
        rel = os.path.relpath(here, folder)
        for f in files:
            if not f.startswith("."):
                found.append(f if rel == "." else Path(rel, f).as_posix())
    return sorted(found)


def audio_files(root):
    """The audio files under ``root`` (any depth), sorted: unlabelled recordings, e.g. the
    "none of these" sounds a metric model is trained to keep away from its classes
    (``MarginEmbeddingClassifier.fit(outliers=...)``).

    Parameters
    ----------
    root : str or path-like
        A folder; files ending in :data:`AUDIO_EXTENSIONS` (any case) count, hidden files
        and folders do not.

    Returns
    -------
    list of str
        Absolute paths.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "street").mkdir()
    >>> for name in ("street/a.wav", "b.FLAC", "notes.txt"):
    ...     _ = (root / name).write_bytes(b"")
    >>> [pathlib.Path(f).name for f in audio_files(root)]
    ['b.FLAC', 'a.wav']
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"'{root}' is not a folder of audio files")
    found = [str((root / rel).resolve()) for rel in walk_files(root)
             if is_audio_name(Path(rel).name)
             and not set(Path(rel).parts) & _SKIPPED_DIRS]
    if not found:
        raise ValueError(f"'{root}' holds no audio file (expected names ending in {_EXT_TEXT})")
    return found


def class_folders(root):
    """The visible subfolders of ``root``, sorted by name: the folder layout's class folders."""
    return sorted((d for d in Path(root).iterdir() if d.is_dir() and _visible(d.name)),
                  key=lambda d: d.name)


def _scan_folder(root):
    """(records, notes): one record per audio file, notes for one warning about the rest."""
    dirs = class_folders(root)
    loose = sorted(p.name for p in root.iterdir() if p.is_file() and is_audio_name(p.name))
    if not dirs:
        hint = (f"; it holds {len(loose)} audio file(s) directly (e.g. '{loose[0]}'): move "
                "them into a folder named after their label" if loose else "")
        raise ValueError(f"'{root}' holds no class folder: expected one subfolder per class, "
                         f"'{root}/<label>/' holding {_EXT_TEXT} files{hint}")
    if len(dirs) == 1:
        raise ValueError(f"'{root}' holds a single class folder, '{dirs[0].name}': a classifier "
                         "needs at least two classes (one subfolder per class)")
    records, other = [], []
    for d in dirs:
        files = walk_files(d)
        audio = [f for f in files if is_audio_name(f.rsplit("/", 1)[-1])]
        other += [f"{d.name}/{f}" for f in files if not is_audio_name(f.rsplit("/", 1)[-1])]
        if not audio:
            what = (f"only {len(files)} other file(s), e.g. '{files[0]}'" if files else
                    "nothing")
            raise ValueError(f"class folder '{d}' holds no audio file ({what}); expected "
                             f"{_EXT_TEXT} files (any case) in it or its subfolders. Remove the "
                             "folder or add its clips")
        for f in audio:
            rel = f"{d.name}/{f}"
            records.append(dict(path=os.path.join(os.path.abspath(root), d.name, *f.split("/")),
                                label=d.name, group=rel, fold=None, where=f"'{d / f}'"))
    notes = []
    if other:
        notes.append(f"ignored {len(other)} file(s) in the class folders of '{root}' that are "
                     f"not audio (not {_EXT_TEXT}): {_examples(other)}")
    if loose:
        notes.append(f"ignored {len(loose)} audio file(s) directly in '{root}', outside any "
                     f"class folder: {_examples(loose)}")
    return records, notes


def load_folder(root, *, n_folds=5, random_state=0, on_unreadable="warn", clip_seconds=None):
    """Load your own labelled recordings stored as one folder per class.

    The layout of scikit-learn's :func:`~sklearn.datasets.load_files`:
    ``root/<label>/<clip>`` with audio files ending in ``.wav``, ``.flac``,
    ``.ogg`` or ``.mp3`` (any case), of any sample rate, channel count and
    length (:class:`~sklearn_metricaudio.AudioLoader` resamples, mixes down
    and crops or pads later). Files in subfolders of a class folder belong to
    that class. Only headers are read here, so loading is cheap.

    Parameters
    ----------
    root : str or path-like
        The directory that holds the class folders.
    n_folds : int, default=5
        How many folds to draw (see Notes: fewer when a class has fewer clips).
    random_state : int, RandomState instance or None, default=0
        Seeds the fold draw (:class:`~sklearn.model_selection.StratifiedGroupKFold`
        with ``shuffle=True``).
    on_unreadable : {"warn", "raise"}, default="warn"
        What to do with audio files whose header soundfile cannot read (or that
        hold no samples): "warn" leaves them out, with one warning that lists
        them and why; "raise" refuses with a ValueError that lists them.
    clip_seconds : float or None, default=None
        The clip length the evaluation crops or pads to. ``None``: the median
        length of the clips, rounded to whole seconds (at least 1).

    Returns
    -------
    Bunch
        ``filenames`` (absolute str paths), ``target`` (int index into
        ``target_names``), ``target_names`` (the class folders' names,
        sorted), ``fold`` (1..K, drawn as in Notes), ``fsID`` (source
        recording id: here every clip is its own recording, so 0..n-1),
        ``group`` (the clip's path relative to ``root``), ``duration``
        (seconds per clip), ``name`` (the folder's name), ``clip_seconds``,
        ``clip_seconds_measured`` (the unrounded median clip length) and
        ``DESCR``. Rows are sorted by class, then path.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a directory.
    ValueError
        No class folder, a single one, a class folder without audio files, a
        class with a single clip (it cannot be both trained and tested),
        unreadable files with ``on_unreadable="raise"``, a bad parameter.
        The message names the folder or file.

    Warns
    -----
    UserWarning
        Files left out (unreadable files; files in class folders that are not
        audio, e.g. ``notes.txt``; audio files directly in ``root``), one
        warning for each kind; ``n_folds`` reduced (see Notes).

    See Also
    --------
    load_manifest : The same Bunch from a CSV file; the way to keep the clips
        of one source recording together, or to give your own folds.
    load_dataset : Recognises this layout, the manifest and the official ones.

    Notes
    -----
    **Folds.** A folder of clips says nothing about where they came from, so
    every clip counts as its own source recording. If several clips were cut
    from one recording, a model tested on one of them may have trained on its
    siblings, and the score comes out too high: list them in a manifest
    (:func:`load_manifest`) with a ``group`` column instead. The folds are
    drawn by :class:`~sklearn.model_selection.StratifiedGroupKFold`, so each
    fold holds about the same share of every class, and every class sits in
    every fold. A class with fewer clips than ``n_folds`` cannot: then
    ``n_folds`` is reduced to the smallest number of clips any class has,
    with a warning that names the class (pass that ``n_folds`` to silence
    it); a class with a single clip is an error.

    Hidden files and folders (names starting with ``.``) and ``__MACOSX``
    folders are skipped silently, as are files directly in ``root`` that are
    not audio (a README).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn_metricaudio import load_folder
    >>> tmp = tempfile.TemporaryDirectory()
    >>> for label, seconds, sr, channels in [("rain", 1.5, 22050, 2), ("dog", 2.0, 16000, 1)]:
    ...     os.mkdir(os.path.join(tmp.name, label))
    ...     for k in range(3):
    ...         sf.write(os.path.join(tmp.name, label, f"clip{k}.wav"),
    ...                  np.zeros((int(seconds * sr), channels)), sr)
    >>> data = load_folder(tmp.name, n_folds=3)
    >>> list(data.target_names), data.target.tolist()
    (['dog', 'rain'], [0, 0, 0, 1, 1, 1])
    >>> [os.path.relpath(f, tmp.name) for f in data.filenames[:2]]
    ['dog/clip0.wav', 'dog/clip1.wav']
    >>> sorted(data.fold[data.target == 0].tolist()), sorted(data.fold[data.target == 1].tolist())
    ([1, 2, 3], [1, 2, 3])
    >>> data.clip_seconds, data.clip_seconds_measured
    (2.0, 1.75)
    >>> tmp.cleanup()
    """
    _check_params(n_folds, on_unreadable, clip_seconds)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"class-folder root '{root}': no such directory")
    records, notes = _scan_folder(root)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    labels = [r["label"] for r in records]
    records, durations = _probe(records, on_unreadable, f"'{root}'")
    names, target = _classes(records, labels, lambda label: f"class folder '{root / label}'")
    fsid = np.arange(len(records), dtype=np.int64)
    fold, how = _draw_folds(target, fsid, names, n_folds, random_state,
                            unit="clips", source=f"'{root}'")
    return _bunch(records, target, names, fold, fsid, durations, clip_seconds,
                  name=root.resolve().name or str(root),
                  descr=f"your recordings in class folders at {root}; folds {how} (every clip "
                        "its own source recording)")


# --------------------------------------------------------------------------- manifests

def _read_manifest(csv_path):
    """Records of the manifest's rows; errors name the line."""
    base = csv_path.parent
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"manifest '{csv_path}' is empty: expected a header row with the "
                             "columns file,label (and optionally fold, group)")
        columns = [h.strip().lower() for h in header]
        twice = sorted({c for c in columns if c and columns.count(c) > 1})
        if twice:
            raise ValueError(f"manifest '{csv_path}' names column(s) {twice} twice; found "
                             f"{header}")
        missing = [c for c in ("file", "label") if c not in columns]
        if missing:
            raise ValueError(f"manifest '{csv_path}' lacks column(s) {missing}: expected a "
                             "header with the columns file,label and optionally fold, group; "
                             f"found {header}")
        at = {c: i for i, c in enumerate(columns)}
        records, seen = [], {}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank line
            cell = {c: (row[i].strip() if i < len(row) else "") for c, i in at.items()}
            where = f"'{csv_path}' line {line}"
            if not cell["file"]:
                raise ValueError(f"{where}: empty file; expected a path to an audio file "
                                 "(relative to the manifest's folder, or absolute)")
            if not cell["label"]:
                raise ValueError(f"{where}: empty label for '{cell['file']}'; every clip needs "
                                 "a label")
            fold = None
            if "fold" in at:
                try:
                    fold = int(cell["fold"])
                except ValueError:
                    fold = None
                if fold is None or fold < 1:
                    raise ValueError(f"{where}: fold must be a positive integer (1, 2, ...), "
                                     f"got {cell['fold']!r} for '{cell['file']}'")
            group = cell["file"]
            if "group" in at:
                group = cell["group"]
                if not group:
                    raise ValueError(
                        f"{where}: empty group for '{cell['file']}'; give every row the id of "
                        "its source recording (a clip that is a recording of its own: any "
                        "unique name, e.g. its file name), or drop the group column")
            path = Path(cell["file"]).expanduser()
            path = os.path.abspath(path if path.is_absolute() else base / path)
            real = os.path.realpath(path)
            if real in seen:
                first_line, first_file = seen[real]
                raise ValueError(
                    f"{where}: '{cell['file']}' is the same file as line {first_line} "
                    f"('{first_file}'), resolved to '{real}'; list every clip once")
            seen[real] = (line, cell["file"])
            records.append(dict(path=path, label=cell["label"], group=group, fold=fold,
                                where=where, line=line))
    if not records:
        raise ValueError(f"manifest '{csv_path}' lists no clip (a header and no rows)")
    absent = [r for r in records if not os.path.isfile(r["path"])]
    if absent:
        shown = "; ".join(f"line {r['line']}: '{r['path']}'" for r in absent[:_N_SHOWN])
        more = f"; and {len(absent) - _N_SHOWN} more" if len(absent) > _N_SHOWN else ""
        raise FileNotFoundError(f"{len(absent)} audio file(s) listed in manifest '{csv_path}' "
                                f"are missing (paths are relative to the manifest's folder): "
                                f"{shown}{more}")
    return records, "fold" in at, "group" in at


def load_manifest(csv_path, *, n_folds=5, random_state=0, on_unreadable="warn",
                  clip_seconds=None):
    """Load your own labelled recordings listed in a CSV manifest.

    The CSV has a header row and one row per clip, with the columns

    - ``file``: the audio file, relative to the CSV's folder (or absolute);
      any format soundfile reads (wav, flac, ogg, mp3, ...), any sample
      rate, channel count and length;
    - ``label``: the clip's class;
    - ``group`` (optional): the source recording the clip was cut from. Clips
      of one group never sit on both sides of a split: they share a fold;
    - ``fold`` (optional): your own folds, positive integers.

    Column names are matched ignoring case and surrounding spaces; other
    columns are ignored, and so are blank lines. Only headers of the audio
    files are read here, so loading is cheap.

    Parameters
    ----------
    csv_path : str or path-like
        The manifest.
    n_folds : int, default=5
        Without a ``fold`` column: how many folds to draw (see Notes: fewer
        when a class has fewer groups). Unused with a ``fold`` column.
    random_state : int, RandomState instance or None, default=0
        Seeds the fold draw (:class:`~sklearn.model_selection.StratifiedGroupKFold`
        with ``shuffle=True``). Unused with a ``fold`` column.
    on_unreadable : {"warn", "raise"}, default="warn"
        What to do with listed files whose header soundfile cannot read (or
        that hold no samples): "warn" leaves them out, with one warning that
        lists them, their lines and why; "raise" refuses with a ValueError
        that lists them.
    clip_seconds : float or None, default=None
        The clip length the evaluation crops or pads to. ``None``: the median
        length of the clips, rounded to whole seconds (at least 1).

    Returns
    -------
    Bunch
        ``filenames`` (absolute str paths), ``target`` (int index into
        ``target_names``), ``target_names`` (the labels, sorted), ``fold``
        (the ``fold`` column, or 1..K drawn as in Notes), ``fsID`` (integer
        codes of the groups in sorted order, used as ``groups`` by the
        evaluation; without a ``group`` column, of the files: every clip its
        own recording), ``group`` (the group column, or the file column),
        ``duration`` (seconds per clip), ``name`` (the CSV's file name
        without ``.csv``), ``clip_seconds``, ``clip_seconds_measured`` (the
        unrounded median clip length) and ``DESCR``. Rows in the CSV's order.

    Raises
    ------
    FileNotFoundError
        No such manifest, or listed files are missing (the message gives
        their lines and paths).
    ValueError
        A missing ``file`` or ``label`` column, an empty file, label or group
        cell, a fold that is not a positive integer, a file listed twice
        (both lines named), a single label, a class with a single clip or a
        single group, a group spread over two folds, a class in a single
        fold, unreadable files with ``on_unreadable="raise"``, a bad
        parameter. The message names the manifest and, where there is one,
        the line.

    Warns
    -----
    UserWarning
        Unreadable files left out; ``n_folds`` reduced (see Notes); a drawn
        fold that misses a class.

    See Also
    --------
    load_folder : One folder per class instead of a manifest.
    load_dataset : Recognises a ``.csv`` path as a manifest.

    Notes
    -----
    **Folds.** With a ``fold`` column, the folds are yours; a group found in
    two folds is an error that names it (it would leak), and so is a class
    found in a single fold (it could not be both trained and tested).
    Without one, :class:`~sklearn.model_selection.StratifiedGroupKFold` draws
    them over the groups, so each fold holds about the same share of every
    class and every class with at least ``n_folds`` groups sits in every fold
    (groups that mix classes can spoil that; a warning says so). A class
    cannot be spread over more folds than it has groups, so ``n_folds`` is
    then reduced to the smallest number of groups any class has, with a
    warning that names the class (pass that ``n_folds`` to silence it); a
    class whose clips all come from one group is an error. Nothing leaks
    silently either way.

    Examples
    --------
    Four recordings, two clips cut from each; the clips of a recording share
    a fold:

    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn_metricaudio import load_manifest
    >>> tmp = tempfile.TemporaryDirectory()
    >>> rows = ["file,label,group"]
    >>> for rec, label in [("r1", "dog"), ("r2", "dog"), ("r3", "rain"), ("r4", "rain")]:
    ...     for k in range(2):
    ...         sf.write(os.path.join(tmp.name, f"{rec}_{k}.flac"), np.zeros(8000), 8000)
    ...         rows.append(f"{rec}_{k}.flac,{label},{rec}")
    >>> with open(os.path.join(tmp.name, "birds.csv"), "w") as fh:
    ...     _ = fh.write("\\n".join(rows) + "\\n")
    >>> data = load_manifest(os.path.join(tmp.name, "birds.csv"), n_folds=2)
    >>> data.name, list(data.target_names), data.target.tolist()
    ('birds', ['dog', 'rain'], [0, 0, 0, 0, 1, 1, 1, 1])
    >>> data.fsID.tolist()
    [0, 0, 1, 1, 2, 2, 3, 3]
    >>> all(len(set(data.fold[data.fsID == g])) == 1 for g in range(4))
    True
    >>> sorted(set(data.fold.tolist())), data.clip_seconds, data.clip_seconds_measured
    ([1, 2], 1.0, 1.0)
    >>> tmp.cleanup()
    """
    _check_params(n_folds, on_unreadable, clip_seconds)
    csv_path = Path(csv_path).expanduser()
    if csv_path.is_dir():
        raise ValueError(f"manifest '{csv_path}' is a directory; expected a CSV file (columns "
                         "file,label and optionally fold, group), or use load_folder for one "
                         "folder per class")
    if not csv_path.is_file():
        raise FileNotFoundError(f"manifest '{csv_path}': no such file")
    records, has_fold, has_group = _read_manifest(csv_path)
    labels = [r["label"] for r in records]
    records, durations = _probe(records, on_unreadable, f"manifest '{csv_path}'")
    names, target = _classes(records, labels,
                             lambda label: f"label '{label}' in manifest '{csv_path}'")
    group_names, fsid = np.unique(np.asarray([r["group"] for r in records], dtype=object),
                                  return_inverse=True)
    fsid = fsid.astype(np.int64).ravel()
    unit = "source recordings (groups)" if has_group else "clips"
    if has_fold:
        fold = np.asarray([r["fold"] for r in records], dtype=np.int64)
        _check_given_folds(records, target, names, fold, has_group, csv_path)
        how = "from its fold column"
    else:
        fold, how = _draw_folds(target, fsid, names, n_folds, random_state, unit=unit,
                                source=f"manifest '{csv_path}'", group_names=group_names)
    src = ("clips of one group share a fold" if has_group else
           "every clip its own source recording")
    return _bunch(records, target, names, fold, fsid, durations, clip_seconds,
                  name=csv_path.stem, descr=f"your recordings listed in {csv_path}; folds "
                                            f"{how} ({src})")


# --------------------------------------------------------------------------- shared steps

def _check_params(n_folds, on_unreadable, clip_seconds):
    if (not isinstance(n_folds, numbers.Integral) or isinstance(n_folds, bool)
            or n_folds < 2):
        raise ValueError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    if on_unreadable not in _ON_UNREADABLE:
        raise ValueError(f"on_unreadable must be 'warn' or 'raise', got {on_unreadable!r}")
    if clip_seconds is not None and (
            not isinstance(clip_seconds, numbers.Real) or isinstance(clip_seconds, bool)
            or not math.isfinite(clip_seconds) or clip_seconds <= 0):
        raise ValueError(f"clip_seconds must be a positive number of seconds or None, got "
                         f"{clip_seconds!r}")


def _examples(items):
    shown = ", ".join(f"'{i}'" for i in items[:_N_SHOWN])
    return shown + (f" and {len(items) - _N_SHOWN} more" if len(items) > _N_SHOWN else "")


def _probe(records, on_unreadable, source):
    """Keep the records whose header soundfile reads; their durations in seconds."""
    import soundfile as sf

    kept, durations, bad = [], [], []
    for r in records:
        try:
            info = sf.info(r["path"])
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            bad.append((r, str(exc) or type(exc).__name__))
            continue
        if info.frames <= 0 or info.samplerate <= 0:
            bad.append((r, "holds no samples"))
            continue
        kept.append(r)
        durations.append(info.frames / info.samplerate)
    if bad:
        listed = "; ".join(f"{r['where']} ({reason})" for r, reason in bad[:_N_LISTED])
        more = f"; and {len(bad) - _N_LISTED} more" if len(bad) > _N_LISTED else ""
        what = f"{len(bad)} unreadable audio file(s) in {source}: {listed}{more}"
        if on_unreadable == "raise":
            raise ValueError(f"{what}. Fix or remove them, or pass on_unreadable='warn' to "
                             "leave them out")
        warnings.warn(f"left out {what}. Pass on_unreadable='raise' to refuse instead",
                      UserWarning, stacklevel=3)
    return kept, np.asarray(durations, dtype=np.float64)


def _classes(records, labels, describe):
    """Sorted class names and targets; every class of ``labels`` (the labels before unreadable
    files were left out) needs two readable clips; two classes at least."""
    names = sorted({r["label"] for r in records})
    for label in sorted(set(labels) - set(names)):
        n = sum(1 for lab in labels if lab == label)
        raise ValueError(f"{describe(label)} has no readable clip: all {n} of its file(s) are "
                         "unreadable (listed in the warning above)")
    index = {n: i for i, n in enumerate(names)}
    target = np.asarray([index[r["label"]] for r in records], dtype=np.int64)
    counts = np.bincount(target, minlength=len(names))
    for k in np.flatnonzero(counts == 1):
        r = records[int(np.flatnonzero(target == k)[0])]
        raise ValueError(f"{describe(names[k])} has a single clip ({r['where']}): a clip cannot "
                         "be both trained and tested; add clips to the class or remove it")
    if len(names) < 2:
        raise ValueError(f"{describe(names[0])} is the only class left: a classifier needs at "
                         "least two classes")
    return names, target


def _check_given_folds(records, target, names, fold, has_group, csv_path):
    if has_group:
        first = {}
        for r, f in zip(records, fold.tolist()):
            g = r["group"]
            if g in first and first[g][0] != f:
                f0, line0 = first[g]
                raise ValueError(
                    f"manifest '{csv_path}': group {g!r} sits in fold {f0} (line {line0}) and "
                    f"fold {f} (line {r['line']}); clips of one source recording must share a "
                    "fold, or they would sit on both sides of a split")
            first.setdefault(g, (f, r["line"]))
    for k, name in enumerate(names):
        in_folds = np.unique(fold[target == k])
        if in_folds.size < 2:
            raise ValueError(f"manifest '{csv_path}': label {name!r} sits in fold "
                             f"{in_folds[0]} only, so it cannot be both trained and tested; "
                             "spread its clips over at least two folds")


def _draw_folds(target, groups, names, n_folds, random_state, *, unit, source,
                group_names=None):
    """Fold 1..K of every clip by StratifiedGroupKFold; K reduced (and said so) if need be."""
    n_groups = np.asarray([np.unique(groups[target == k]).size for k in range(len(names))])
    worst = int(np.argmin(n_groups))
    if n_groups[worst] < 2:  # several clips (checked before), all of one group
        g = groups[target == worst][0]
        g = g if group_names is None else group_names[g]
        raise ValueError(
            f"{source}: every clip of class {names[worst]!r} comes from one source recording "
            f"(group {g!r}), so no split can test that class on a recording it "
            "was not trained on; add clips of other recordings")
    k = int(min(n_folds, n_groups[worst]))
    if k < n_folds:
        short = [f"{names[c]!r} ({n_groups[c]})" for c in np.flatnonzero(n_groups < n_folds)]
        warnings.warn(
            f"{source}: n_folds={n_folds} reduced to {k}, because class {names[worst]!r} has "
            f"only {k} {unit} (classes with fewer than {n_folds}: {', '.join(short)}) and clips "
            "of one source recording never sit on both sides of a split; pass "
            f"n_folds={k} to silence this warning", UserWarning, stacklevel=3)
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    fold = np.zeros(len(target), dtype=np.int64)
    tests = [t for _, t in cv.split(np.zeros((len(target), 1)), target, groups) if len(t)]
    for i, test in enumerate(tests):
        fold[test] = i + 1
    gaps = [(names[c], f) for f in range(1, len(tests) + 1) for c in range(len(names))
            if not np.any(target[fold == f] == c)]
    if gaps:
        shown = ", ".join(f"class {c!r} in fold {f}" for c, f in gaps[:_N_SHOWN])
        warnings.warn(f"{source}: drawn folds miss {shown}{' ...' if len(gaps) > _N_SHOWN else ''}"
                      ": source recordings that hold several classes keep the folds from "
                      "covering every class", UserWarning, stacklevel=3)
    how = (f"drawn by StratifiedGroupKFold(n_splits={k}, shuffle=True, "
           f"random_state={random_state!r})")
    return fold, how


def _bunch(records, target, names, fold, fsid, durations, clip_seconds, *, name, descr):
    measured = float(np.median(durations))
    seconds = (float(max(1, math.floor(measured + 0.5))) if clip_seconds is None
               else float(clip_seconds))
    return Bunch(
        filenames=np.asarray([r["path"] for r in records], dtype=object),
        target=target,
        target_names=np.asarray(names, dtype=object),
        fold=fold,
        fsID=fsid,
        group=np.asarray([r["group"] for r in records], dtype=object),
        duration=durations,
        name=name,
        clip_seconds=seconds,
        clip_seconds_measured=measured,
        DESCR=f"{descr}: {len(records)} clips, {len(names)} classes {list(names)}, folds "
              f"{np.unique(fold).tolist()}, median clip {measured:.3g} s (clip_seconds="
              f"{seconds:g})",
    )
