"""ESC-50 and ESC-10: read a user's copy in either official layout; predefined folds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._csv import read_rows
from ._layout import ESC10_CLASS_DIR, ESC50_CSV

__all__ = ["load_esc50"]

_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
#: clip file of the stand-alone ESC-10 layout: fold-clipid-take.ext, e.g. "1-100032-A.ogg"
_CLIP_FILE = re.compile(r"^(\d+)-(\d+)-([A-Za-z]+)\.(ogg|wav|flac)$", re.IGNORECASE)
_CLIP_PATTERN = "fold-clipid-take.ext (e.g. '1-100032-A.ogg'; ext ogg, wav or flac)"
_BOOL = {"true": True, "false": False, "1": True, "0": False}
_SUBSETS = ("esc50", "esc10")
_N_SHOWN = 5  # missing files named in an error message


def load_esc50(root, *, subset="esc50", check_files=True):
    """Load the file list of an ESC-50 or ESC-10 copy in its official layout.

    Two layouts are recognised, in this order:

    - **ESC-50** (github.com/karolpiczak/ESC-50): ``root/meta/esc50.csv``
      with columns filename, fold, target, category, esc10, src_file, take,
      and the clips in ``root/audio/<filename>``. ``subset="esc10"`` keeps
      the rows whose esc10 column is True, the ESC-10 subset.
    - **Stand-alone ESC-10** (github.com/karoldvl/ESC-10): one folder per
      class named ``NNN - Name`` (``001 - Dog bark``), holding clips named
      ``fold-clipid-take.ogg`` (``1-100032-A.ogg``). This layout holds the
      ESC-10 classes only, so it needs ``subset="esc10"``.

    Audio is decoded later, by :class:`~sklearn_metricaudio.AudioLoader`,
    so the Bunch is cheap. It has the fields of
    :func:`~sklearn_metricaudio.load_urbansound8k` that make sense for ESC
    (no ``salience``), so code written for one runs on the other, and
    :func:`~sklearn_metricaudio.predefined_fold_cv` turns its ``fold`` into
    the official 5-fold cross-validation.

    Parameters
    ----------
    root : str or path-like
        The directory that holds ``meta/`` and ``audio/`` (ESC-50), or the
        ``NNN - Name`` class folders (ESC-10).
    subset : {"esc50", "esc10"}, default="esc50"
        "esc50": every row of the metadata. "esc10": the 10 ESC-10 classes.
    check_files : bool, default=True
        ESC-50 layout: raise if a listed audio file is missing. (The ESC-10
        layout lists the files it finds, so there is nothing to check.)

    Returns
    -------
    Bunch
        ``filenames`` (str paths), ``target`` (int index into
        ``target_names``), ``target_names`` (class names: the csv's category,
        e.g. "dog", in order of its target number; or the folder names after
        ``NNN - ``, e.g. "Dog bark", in folder order), ``fold`` (1-5),
        ``fsID`` (Freesound id of the source recording: the csv's src_file,
        or the clip id of the file name), ``class_id`` (the csv's target,
        0-49, or the folder number ``NNN``, 1-10), ``take`` (the take letter,
        "A", "B", ...; clips of one source recording differ by take),
        ``DESCR``. Rows are sorted by fold, then file name.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a directory, or (``check_files=True``) listed audio
        files are missing; the message names the first few.
    ValueError
        ``root`` holds neither layout; the metadata lacks a column or holds
        a bad value; a clip in a class folder is not named
        ``fold-clipid-take.ext``; ``subset="esc50"`` on an ESC-10 folder.

    See Also
    --------
    predefined_fold_cv : Cross-validation over the ``fold`` column.
    load_urbansound8k : The same Bunch for UrbanSound8K.

    Notes
    -----
    The two layouts name and order the ESC-10 classes differently
    (ESC-50's csv: dog, rooster, rain, sea_waves, crackling_fire, ... by
    ESC-50 target; stand-alone ESC-10: Dog bark, Rain, Sea waves, Baby
    cry, ... by folder number), so a ``target`` or a name from one layout
    does not carry over to the other.

    Examples
    --------
    A tiny copy in the stand-alone ESC-10 layout, two classes, two folds:

    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn_metricaudio import load_esc50, predefined_fold_cv
    >>> tmp = tempfile.TemporaryDirectory()
    >>> clips = {"001 - Dog bark": ["1-100032-A.wav", "2-114280-A.wav"],
    ...          "002 - Rain": ["1-17367-A.wav", "2-101010-B.wav"]}
    >>> for folder, names in clips.items():
    ...     os.mkdir(os.path.join(tmp.name, folder))
    ...     for name in names:
    ...         sf.write(os.path.join(tmp.name, folder, name), np.zeros(441), 44100)
    >>> data = load_esc50(tmp.name, subset="esc10")
    >>> [os.path.basename(f) for f in data.filenames]
    ['1-100032-A.wav', '1-17367-A.wav', '2-101010-B.wav', '2-114280-A.wav']
    >>> list(data.target_names), data.target.tolist(), data.fold.tolist()
    (['Dog bark', 'Rain'], [0, 1, 1, 0], [1, 1, 2, 2])
    >>> data.fsID.tolist(), data.take.tolist()
    ([100032, 17367, 101010, 114280], ['A', 'A', 'B', 'A'])
    >>> [test.tolist() for _, test in predefined_fold_cv(data.fold).split()]
    [[0, 1], [2, 3]]
    >>> tmp.cleanup()
    """
    if subset not in _SUBSETS:
        raise ValueError(f"subset must be 'esc50' or 'esc10', got {subset!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"ESC-50/ESC-10 root directory not found: '{root}'")
    if (root / ESC50_CSV).is_file():
        return _load_esc50_layout(root, subset, check_files)
    class_dirs = sorted(d for d in root.iterdir() if ESC10_CLASS_DIR.match(d.name) and d.is_dir())
    if class_dirs:
        if subset != "esc10":
            raise ValueError(
                f"'{root}' holds the stand-alone ESC-10 layout ({len(class_dirs)} 'NNN - Name' "
                "class folders, no meta/esc50.csv), so it only has the ESC-10 classes; pass "
                "subset='esc10' to load it, or point root at an ESC-50 copy"
            )
        return _load_esc10_layout(root, class_dirs)
    raise ValueError(
        f"'{root}' is neither an ESC-50 copy nor an ESC-10 copy: looked for the ESC-50 "
        f"metadata file '{root / ESC50_CSV}' and for ESC-10 class folders named like "
        "'001 - Dog bark' (pattern '^\\d{3} - .+'), and found neither"
    )


def _load_esc50_layout(root, subset, check_files):
    csv_path = root / ESC50_CSV
    rows = read_rows(csv_path, _COLUMNS)

    records = []  # (fold, filename, original target, category, src, take)
    seen = set()
    for line, row in enumerate(rows, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        try:
            f, t, src = int(row["fold"]), int(row["target"]), int(row["src_file"])
        except ValueError as exc:
            raise ValueError(f"'{csv_path}' line {line}: non-integer fold/target/src_file "
                             f"({exc})") from None
        esc10 = _BOOL.get(row["esc10"].lower())
        if esc10 is None:
            raise ValueError(f"'{csv_path}' line {line}: esc10 must be True or False, "
                             f"got {row['esc10']!r}")
        name = row["filename"]
        if not name:
            raise ValueError(f"'{csv_path}' line {line}: empty filename")
        if name in seen:
            raise ValueError(f"'{csv_path}' line {line}: filename {name!r} listed twice")
        seen.add(name)
        if subset == "esc10" and not esc10:
            continue
        records.append((f, name, t, row["category"], src, row["take"]))

    if not records:
        which = "no row" if subset == "esc50" else "no row with esc10 True"
        raise ValueError(f"'{csv_path}' holds {which}")

    # one category per target number and one target number per category
    by_target = {}
    for f, name, t, cat, _, _ in records:
        by_target.setdefault(t, set()).add(cat)
    clashes = {t: sorted(c) for t, c in by_target.items() if len(c) > 1}
    cats = [next(iter(by_target[t])) for t in sorted(by_target)]
    if clashes or len(set(cats)) != len(cats):
        dup = sorted({c for c in cats if cats.count(c) > 1})
        raise ValueError(f"'{csv_path}': target and category disagree "
                         f"(targets with several categories: {clashes}; "
                         f"categories with several targets: {dup})")
    original = sorted(by_target)
    renumber = {t: i for i, t in enumerate(original)}

    records.sort(key=lambda r: (r[0], r[1]))
    filenames = [str(root / "audio" / r[1]) for r in records]
    if check_files:
        absent = [p for p in filenames if not Path(p).is_file()]
        if absent:
            shown = ", ".join(f"'{p}'" for p in absent[:_N_SHOWN])
            more = f" and {len(absent) - _N_SHOWN} more" if len(absent) > _N_SHOWN else ""
            raise FileNotFoundError(
                f"{len(absent)} audio file(s) listed in '{csv_path}' are missing: {shown}{more}"
            )
    return _bunch(
        filenames,
        target=[renumber[r[2]] for r in records],
        target_names=cats,
        fold=[r[0] for r in records],
        fsid=[r[4] for r in records],
        class_id=[r[2] for r in records],
        take=[r[5] for r in records],
        descr=f"ESC-50 at {root} (meta/esc50.csv), subset={subset!r}",
    )


def _load_esc10_layout(root, class_dirs):
    records = []  # (fold, file name, target, src, take, path, class number)
    names = []
    for target, d in enumerate(class_dirs):
        number, name = ESC10_CLASS_DIR.match(d.name).groups()
        names.append(name)
        n_before = len(records)
        for entry in sorted(d.iterdir()):
            if entry.name.startswith("."):  # .DS_Store and friends
                continue
            m = _CLIP_FILE.match(entry.name)
            if m is None or not entry.is_file():
                raise ValueError(
                    f"unexpected {'folder' if entry.is_dir() else 'file'} '{entry}' in an ESC-10 "
                    f"class folder: clips must be named {_CLIP_PATTERN}"
                )
            fold, clip, take, _ = m.groups()
            records.append((int(fold), entry.name, target, int(clip), take, str(entry),
                            int(number)))
        if len(records) == n_before:
            raise ValueError(f"ESC-10 class folder '{d}' holds no clip")

    records.sort(key=lambda r: (r[0], r[1], r[2]))
    return _bunch(
        [r[5] for r in records],
        target=[r[2] for r in records],
        target_names=names,
        fold=[r[0] for r in records],
        fsid=[r[3] for r in records],
        class_id=[r[6] for r in records],
        take=[r[4] for r in records],
        descr=f"ESC-10 at {root} (stand-alone layout, 'NNN - Name' class folders)",
    )


def _bunch(filenames, *, target, target_names, fold, fsid, class_id, take, descr):
    fold = np.asarray(fold, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    return Bunch(
        filenames=np.asarray(filenames, dtype=object),
        target=target,
        target_names=np.asarray(target_names, dtype=object),
        fold=fold,
        fsID=np.asarray(fsid, dtype=np.int64),
        class_id=np.asarray(class_id, dtype=np.int64),
        take=np.asarray(take, dtype=object),
        DESCR=f"{descr}: {len(filenames)} clips, {len(target_names)} classes "
              f"{list(target_names)}, folds {np.unique(fold).tolist()}",
    )
