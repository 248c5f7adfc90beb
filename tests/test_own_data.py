"""Users' own labelled recordings: load_folder, load_manifest and load_dataset's recognition of
them. Every data set here is written into tmp_path (tiny wav/flac/ogg files, mixed rates and
channels); nothing reads ../shared."""

import contextlib
import csv
import os
import warnings

import numpy as np
import pytest
import soundfile as sf

from sklearn_metricaudio import load_folder, load_manifest, predefined_fold_cv
from sklearn_metricaudio.datasets import detect_layout, load_dataset

FIELDS = {"filenames", "target", "target_names", "fold", "fsID", "group", "duration", "name",
          "clip_seconds", "clip_seconds_measured", "DESCR"}


def _clip(path, seconds=0.25, sr=8000, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    sf.write(path, 0.1 * rng.standard_normal((int(round(seconds * sr)), channels)), sr)
    return path


def _folder(root, counts, **kw):
    """root/<label>/clip<k>.wav for {label: n_clips}."""
    for label, n in counts.items():
        for k in range(n):
            _clip(root / label / f"clip{k}.wav", **kw)
    return root


def _manifest(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _grouped(root, spec, *, header=("file", "label", "group"), folds=None):
    """Clips for {label: [clips per group, ...]} and a manifest with a group column."""
    rows = []
    for label, sizes in spec.items():
        for g, size in enumerate(sizes):
            for k in range(size):
                name = f"{label}/{label}{g}_{k}.wav"
                _clip(root / name)
                rows.append([name, label, f"{label}-rec{g}"])
    if folds is not None:
        rows = [r + [f] for r, f in zip(rows, folds)]
        header = tuple(header) + ("fold",)
    return _manifest(root / "clips.csv", header, rows)


@contextlib.contextmanager
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _rel(data, root):
    return [os.path.relpath(f, root).replace(os.sep, "/") for f in data.filenames]


def _assert_no_group_on_both_sides(data):
    for train, test in predefined_fold_cv(data.fold).split():
        assert not set(data.fsID[train]) & set(data.fsID[test])


# --------------------------------------------------------------------------- folder layout

def test_folder_fields_sorting_and_what_is_skipped(tmp_path):
    root = tmp_path / "my clips"
    _clip(root / "rain" / "b.wav", seconds=0.5, sr=22050, channels=2)
    _clip(root / "rain" / "A.FLAC", seconds=0.3, sr=16000)
    _clip(root / "rain" / "c.ogg", seconds=0.4, sr=44100, channels=2)
    _clip(root / "dog" / "park" / "deep" / "x.Wav", seconds=0.2, sr=8000)  # nested: label "dog"
    _clip(root / "dog" / "y.wav", seconds=0.6, sr=11025, channels=3)
    _clip(root / "car" / "1.wav")
    _clip(root / "car" / "2.flac")
    # hidden files and folders, and macOS debris: skipped without a word
    _clip(root / "car" / ".hidden.wav")
    _clip(root / "dog" / ".cache" / "z.wav")
    _clip(root / ".trash" / "t.wav")
    _clip(root / ".trash" / "u.wav")
    _clip(root / "__MACOSX" / "car" / "._1.wav")
    (root / "car" / ".DS_Store").write_bytes(b"\0\1")
    (root / "README.md").write_text("my recordings\n")  # not audio, not in a class folder
    with _no_warnings():
        data = load_folder(root, n_folds=2)
    assert FIELDS <= set(data)
    assert data.target_names.tolist() == ["car", "dog", "rain"]  # sorted by name
    assert _rel(data, root) == ["car/1.wav", "car/2.flac", "dog/park/deep/x.Wav", "dog/y.wav",
                                "rain/A.FLAC", "rain/b.wav", "rain/c.ogg"]
    assert data.target.tolist() == [0, 0, 1, 1, 2, 2, 2]
    assert all(os.path.isabs(f) and os.path.isfile(f) for f in data.filenames)
    assert data.target.dtype == np.int64 and data.fold.dtype == np.int64
    assert data.fsID.tolist() == list(range(7))  # every clip its own source recording
    assert data.group.tolist() == _rel(data, root)
    np.testing.assert_allclose(data.duration, [0.25, 0.25, 0.2, 0.6, 0.3, 0.5, 0.4], atol=1e-3)
    assert data.name == "my clips"
    assert isinstance(data.clip_seconds, float) and isinstance(data.DESCR, str)
    assert sorted(set(data.fold.tolist())) == [1, 2]


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="libsndfile without MP3")
def test_folder_reads_mp3(tmp_path):
    for label in ("a", "b"):
        for k in range(2):
            _clip(tmp_path / label / f"{k}.MP3", seconds=0.5)
    data = load_folder(tmp_path, n_folds=2)
    assert len(data.filenames) == 4 and data.clip_seconds_measured == pytest.approx(0.5, abs=0.1)


def test_folder_warns_once_about_files_it_ignores(tmp_path):
    _folder(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "a" / "notes.txt").write_text("recorded at home\n")
    (tmp_path / "b" / "take.aiff").write_bytes(b"")
    _clip(tmp_path / "loose.wav")
    with pytest.warns(UserWarning) as record:
        data = load_folder(tmp_path, n_folds=2)
    messages = [str(w.message) for w in record]
    non_audio = [m for m in messages if "not audio" in m]
    assert len(non_audio) == 1 and "a/notes.txt" in non_audio[0] and "b/take.aiff" in non_audio[0]
    assert "2 file(s)" in non_audio[0]
    assert any("outside any class folder" in m and "loose.wav" in m for m in messages)
    assert len(data.filenames) == 4
    assert not any(f.endswith(("notes.txt", "take.aiff", "loose.wav")) for f in data.filenames)


def test_folder_folds_are_stratified_and_seeded(tmp_path):
    _folder(tmp_path, {"a": 5, "b": 10, "c": 5})
    with _no_warnings():
        data = load_folder(tmp_path, n_folds=5, random_state=0)
    assert sorted(set(data.fold.tolist())) == [1, 2, 3, 4, 5]
    for f in range(1, 6):  # every class in every test fold, in proportion
        counts = np.bincount(data.target[data.fold == f], minlength=3).tolist()
        assert counts == [1, 2, 1], (f, counts)
    again = load_folder(tmp_path, n_folds=5, random_state=0)
    np.testing.assert_array_equal(again.fold, data.fold)
    others = [load_folder(tmp_path, n_folds=5, random_state=s).fold for s in (1, 2, 3)]
    assert any(not np.array_equal(o, data.fold) for o in others)
    assert len(predefined_fold_cv(data.fold).split().__next__()[1]) == 4


def test_folder_fold_reduction_policy(tmp_path):
    _folder(tmp_path, {"rare": 3, "common": 8})
    with pytest.warns(UserWarning, match=r"n_folds=5 reduced to 3.*'rare' has only 3 clips"):
        data = load_folder(tmp_path, n_folds=5)
    assert sorted(set(data.fold.tolist())) == [1, 2, 3]
    for f in (1, 2, 3):
        assert set(data.target[data.fold == f].tolist()) == {0, 1}
    with _no_warnings():  # asking for what the data allow: silent
        quiet = load_folder(tmp_path, n_folds=3)
    np.testing.assert_array_equal(quiet.fold, data.fold)


def test_folder_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.: no such directory"):
        load_folder(tmp_path / "nowhere")
    a_file = _clip(tmp_path / "file.wav")
    with pytest.raises(FileNotFoundError, match="file.wav'?: no such directory"):
        load_folder(a_file)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"'.*empty' holds no class folder"):
        load_folder(empty)
    flat = tmp_path / "flat"
    _clip(flat / "a.wav")
    with pytest.raises(ValueError, match=r"holds no class folder.*1 audio file\(s\) directly"):
        load_folder(flat)

    single = _folder(tmp_path / "single", {"only": 3})
    with pytest.raises(ValueError, match="single class folder, 'only'"):
        load_folder(single)

    hollow = _folder(tmp_path / "hollow", {"a": 2, "b": 2})
    (hollow / "c").mkdir()
    with pytest.raises(ValueError, match=r"class folder '.*hollow/c' holds no audio file"):
        load_folder(hollow)
    (hollow / "c" / "notes.txt").write_text("todo\n")
    with pytest.raises(ValueError, match=r"'.*hollow/c' holds no audio file.*notes.txt"):
        load_folder(hollow)

    lonely = _folder(tmp_path / "lonely", {"a": 2, "b": 1})
    with pytest.raises(ValueError, match=r"'.*lonely/b' has a single clip \('.*b/clip0.wav'\)"
                                         r".*both trained and tested"):
        load_folder(lonely)


@pytest.mark.parametrize("kw, match", [
    (dict(n_folds=1), "n_folds must be an integer >= 2, got 1"),
    (dict(n_folds=2.5), "n_folds must be an integer"),
    (dict(n_folds=True), "n_folds must be an integer"),
    (dict(on_unreadable="skip"), "on_unreadable must be 'warn' or 'raise', got 'skip'"),
    (dict(clip_seconds=0), "clip_seconds must be a positive number"),
    (dict(clip_seconds=float("nan")), "clip_seconds must be a positive number"),
])
def test_bad_parameters(tmp_path, kw, match):
    _folder(tmp_path / "f", {"a": 2, "b": 2})
    man = _manifest(tmp_path / "m.csv", ["file", "label"],
                    [["f/a/clip0.wav", "a"], ["f/a/clip1.wav", "a"], ["f/b/clip0.wav", "b"],
                     ["f/b/clip1.wav", "b"]])
    with pytest.raises(ValueError, match=match):
        load_folder(tmp_path / "f", **kw)
    with pytest.raises(ValueError, match=match):
        load_manifest(man, **kw)


# --------------------------------------------------------------------------- unreadable files

def _with_bad_files(root):
    _folder(root, {"a": 3, "b": 3})
    (root / "a" / "broken.wav").write_bytes(b"this is not a wav file" * 4)
    _clip(root / "b" / "silent.wav", seconds=0)
    return root


def test_unreadable_files_warn_once_and_are_left_out(tmp_path):
    root = _with_bad_files(tmp_path)
    with pytest.warns(UserWarning) as record:
        data = load_folder(root, n_folds=3)
    unreadable = [str(w.message) for w in record if "unreadable" in str(w.message)]
    assert len(unreadable) == 1
    msg = unreadable[0]
    assert "2 unreadable audio file(s)" in msg
    assert "a/broken.wav" in msg and "b/silent.wav" in msg and "holds no samples" in msg
    assert "Format not recognised" in msg or "Error opening" in msg  # soundfile's reason
    assert len(data.filenames) == 6
    assert not any(f.endswith(("broken.wav", "silent.wav")) for f in data.filenames)
    assert len(data.duration) == len(data.filenames) == len(data.fold)


def test_unreadable_files_raise_on_request(tmp_path):
    root = _with_bad_files(tmp_path)
    with pytest.raises(ValueError, match=r"2 unreadable audio file\(s\).*a/broken.wav.*"
                                         r"b/silent.wav' \(holds no samples\)"):
        load_folder(root, on_unreadable="raise")


def test_a_class_left_without_readable_clips_is_an_error(tmp_path):
    _folder(tmp_path, {"a": 2})
    for k in range(2):
        (tmp_path / "b" / f"{k}.wav").parent.mkdir(exist_ok=True)
        (tmp_path / "b" / f"{k}.wav").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="unreadable"):
        with pytest.raises(ValueError, match=r"class folder '.*/b' has no readable clip: all 2"):
            load_folder(tmp_path)


def test_manifest_unreadable_files_name_their_line(tmp_path):
    _folder(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "bad.wav").write_bytes(b"junk")
    man = _manifest(tmp_path / "m.csv", ["file", "label"],
                    [["a/clip0.wav", "a"], ["a/clip1.wav", "a"], ["bad.wav", "a"],
                     ["b/clip0.wav", "b"], ["b/clip1.wav", "b"]])
    with pytest.warns(UserWarning, match=r"'.*m.csv' line 4 \("):
        data = load_manifest(man, n_folds=2)
    assert len(data.filenames) == 4
    with pytest.raises(ValueError, match=r"m.csv' line 4"):
        load_manifest(man, n_folds=2, on_unreadable="raise")


# --------------------------------------------------------------------------- clip length

def test_clip_seconds_is_the_rounded_median_and_can_be_overridden(tmp_path):
    for label, lengths in {"a": [1.0, 2.0, 6.0], "b": [2.5, 3.0, 3.0]}.items():
        for k, s in enumerate(lengths):
            _clip(tmp_path / "mid" / label / f"{k}.wav", seconds=s, sr=8000)
    data = load_folder(tmp_path / "mid", n_folds=3)
    assert data.clip_seconds_measured == pytest.approx(2.75)  # median of the six
    assert data.clip_seconds == 3.0
    assert load_folder(tmp_path / "mid", n_folds=3, clip_seconds=4).clip_seconds == 4.0
    assert load_folder(tmp_path / "mid", n_folds=3,
                       clip_seconds=4).clip_seconds_measured == pytest.approx(2.75)

    for label, lengths in {"a": [2.0, 2.0], "b": [3.0, 3.0]}.items():  # median 2.5: rounds up
        for k, s in enumerate(lengths):
            _clip(tmp_path / "half" / label / f"{k}.flac", seconds=s, sr=16000)
    assert load_folder(tmp_path / "half", n_folds=2).clip_seconds == 3.0

    _folder(tmp_path / "short", {"a": 2, "b": 2}, seconds=0.2)  # never below one second
    short = load_folder(tmp_path / "short", n_folds=2)
    assert short.clip_seconds == 1.0 and short.clip_seconds_measured == pytest.approx(0.2)


def test_lengths_come_from_headers_without_decoding(tmp_path, monkeypatch):
    _folder(tmp_path, {"a": 2, "b": 2}, seconds=1.5)

    def no_decoding(*args, **kwargs):
        raise AssertionError("the loader decoded audio")

    monkeypatch.setattr(sf, "read", no_decoding)
    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    data = load_folder(tmp_path, n_folds=2)
    assert data.clip_seconds_measured == pytest.approx(1.5)


# --------------------------------------------------------------------------- manifests

def test_manifest_fields_paths_and_order(tmp_path):
    root = tmp_path / "data"
    _clip(root / "x" / "1.wav", sr=22050, channels=2)
    _clip(root / "2.flac", sr=16000)
    outside = _clip(tmp_path / "elsewhere" / "3.wav")
    _clip(root / "y" / "4.wav")
    rows = [["x/1.wav", " zebra ", "r1", "ignored"], [str(outside), "ant", "r2", ""], [],
            ["2.flac", "zebra", "r3", ""], ["y/4.wav", "ant", "r4", ""]]
    man = _manifest(root / "Birds.csv", [" File ", "LABEL", "group", "comment"], rows)
    data = load_manifest(man, n_folds=2)
    assert FIELDS <= set(data)
    assert data.name == "Birds"
    assert data.target_names.tolist() == ["ant", "zebra"]  # sorted; cells stripped
    assert data.target.tolist() == [1, 0, 1, 0]  # the CSV's row order, blank line skipped
    assert data.filenames.tolist() == [str(root / "x" / "1.wav"), str(outside),
                                       str(root / "2.flac"), str(root / "y" / "4.wav")]
    assert data.group.tolist() == ["r1", "r2", "r3", "r4"]
    assert data.fsID.tolist() == [0, 1, 2, 3]


def test_manifest_without_group_column_makes_every_clip_its_own_recording(tmp_path):
    _folder(tmp_path, {"a": 3, "b": 3})
    rows = [[f"{lab}/clip{k}.wav", lab] for lab in "ba" for k in range(3)]
    data = load_manifest(_manifest(tmp_path / "m.csv", ["file", "label"], rows), n_folds=3)
    assert data.fsID.tolist() == [3, 4, 5, 0, 1, 2]  # codes of the files, sorted
    assert data.group.tolist() == [r[0] for r in rows]
    for f in (1, 2, 3):
        assert sorted(data.target[data.fold == f].tolist()) == [0, 1]


def test_manifest_groups_never_straddle_a_split(tmp_path):
    spec = {"a": [3, 3, 3, 3, 2], "b": [2, 3, 3, 3, 3], "c": [3, 3, 3, 3, 3]}
    man = _grouped(tmp_path, spec)
    for seed in range(4):
        data = load_manifest(man, n_folds=5, random_state=seed)
        assert sorted(set(data.fold.tolist())) == [1, 2, 3, 4, 5]
        for g in np.unique(data.fsID):
            assert len(set(data.fold[data.fsID == g].tolist())) == 1
        _assert_no_group_on_both_sides(data)
        for f in range(1, 6):  # five recordings per class: every class in every fold
            assert set(data.target[data.fold == f].tolist()) == {0, 1, 2}
    assert len(np.unique(data.fsID)) == 15
    assert all(len(set(data.group[data.fsID == g])) == 1 for g in np.unique(data.fsID))


def test_manifest_fold_reduction_counts_groups(tmp_path):
    man = _grouped(tmp_path, {"a": [2, 2], "b": [1, 1, 1, 1, 1]})
    with pytest.warns(UserWarning, match=r"n_folds=5 reduced to 2, because class 'a' has only 2 "
                                         r"source recordings \(groups\)"):
        data = load_manifest(man, n_folds=5)
    assert sorted(set(data.fold.tolist())) == [1, 2]
    _assert_no_group_on_both_sides(data)


def test_manifest_class_from_a_single_recording_is_an_error(tmp_path):
    man = _grouped(tmp_path, {"a": [4], "b": [1, 1, 1]})
    with pytest.raises(ValueError, match=r"every clip of class 'a' comes from one source "
                                         r"recording \(group 'a-rec0'\)"):
        load_manifest(man)


def test_manifest_warns_when_mixed_groups_leave_a_fold_without_a_class(tmp_path):
    _folder(tmp_path, {"A": 2, "B": 2})
    rows = [["A/clip0.wav", "A", "both"], ["B/clip0.wav", "B", "both"],
            ["A/clip1.wav", "A", "onlyA"], ["B/clip1.wav", "B", "onlyB"]]
    man = _manifest(tmp_path / "m.csv", ["file", "label", "group"], rows)
    with pytest.warns(UserWarning, match="drawn folds miss class"):
        data = load_manifest(man, n_folds=2)
    _assert_no_group_on_both_sides(data)


def test_manifest_own_folds(tmp_path):
    man = _grouped(tmp_path, {"a": [1, 1, 1], "b": [2, 1]}, folds=[3, 1, 3, 3, 3, 1])
    with _no_warnings():
        data = load_manifest(man, n_folds=7, random_state=5)  # both unused
    assert data.fold.tolist() == [3, 1, 3, 3, 3, 1]
    assert "fold column" in data.DESCR

    spread = _grouped(tmp_path / "s", {"a": [1, 1], "b": [2, 1]}, folds=[1, 2, 1, 2, 2])
    with pytest.raises(ValueError, match=r"group 'b-rec0' sits in fold 1 \(line 4\) and fold 2 "
                                         r"\(line 5\)"):
        load_manifest(spread)

    one = _grouped(tmp_path / "o", {"a": [1, 1], "b": [1, 1]}, folds=[1, 2, 1, 1])
    with pytest.raises(ValueError, match="label 'b' sits in fold 1 only"):
        load_manifest(one)


@pytest.mark.parametrize("fold", ["x", "1.5", "", "0", "-1"])
def test_manifest_fold_must_be_a_positive_integer(tmp_path, fold):
    _folder(tmp_path, {"a": 2, "b": 2})
    rows = [["a/clip0.wav", "a", "1"], ["a/clip1.wav", "a", "2"], ["b/clip0.wav", "b", fold],
            ["b/clip1.wav", "b", "2"]]
    man = _manifest(tmp_path / "m.csv", ["file", "label", "fold"], rows)
    with pytest.raises(ValueError, match=rf"m.csv' line 4: fold must be a positive integer.*"
                                         rf"{fold!r}.*b/clip0.wav"):
        load_manifest(man)


def _four(tmp_path):
    _folder(tmp_path, {"a": 2, "b": 2})
    return [["a/clip0.wav", "a"], ["a/clip1.wav", "a"], ["b/clip0.wav", "b"],
            ["b/clip1.wav", "b"]]


def test_manifest_errors_name_the_file_and_line(tmp_path):
    rows = _four(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"manifest '.*nope.csv': no such file"):
        load_manifest(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match=r"manifest '.*a' is a directory"):
        load_manifest(tmp_path / "a")

    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"'.*empty.csv' is empty"):
        load_manifest(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match=r"'.*header.csv' lists no clip"):
        load_manifest(_manifest(tmp_path / "header.csv", ["file", "label"], []))

    with pytest.raises(ValueError, match=r"'.*cols.csv' lacks column\(s\) \['label'\].*"
                                         r"\['file', 'class'\]"):
        load_manifest(_manifest(tmp_path / "cols.csv", ["file", "class"], rows))

    missing = rows[:2] + [["b/gone.wav", "b"]] + rows[2:]
    with pytest.raises(FileNotFoundError, match=r"1 audio file\(s\) listed in manifest "
                                                r"'.*missing.csv' are missing.*line 4: "
                                                r"'.*b/gone.wav'"):
        load_manifest(_manifest(tmp_path / "missing.csv", ["file", "label"], missing))

    twice = rows + [["./a/../a/clip1.wav", "b"]]
    with pytest.raises(ValueError, match=r"twice.csv' line 6: './a/../a/clip1.wav' is the same "
                                         r"file as line 3 \('a/clip1.wav'\)"):
        load_manifest(_manifest(tmp_path / "twice.csv", ["file", "label"], twice))
    absolute = rows + [[str(tmp_path / "b" / "clip0.wav"), "b"]]
    with pytest.raises(ValueError, match=r"line 6: .* is the same file as line 4"):
        load_manifest(_manifest(tmp_path / "abs.csv", ["file", "label"], absolute))

    unlabelled = rows[:3] + [["b/clip1.wav", "  "]]
    with pytest.raises(ValueError, match=r"nolabel.csv' line 5: empty label for 'b/clip1.wav'"):
        load_manifest(_manifest(tmp_path / "nolabel.csv", ["file", "label"], unlabelled))

    with pytest.raises(ValueError, match=r"nofile.csv' line 3: empty file"):
        load_manifest(_manifest(tmp_path / "nofile.csv", ["file", "label"],
                                rows[:1] + [["", "a"]] + rows[1:]))

    nogroup = [r + ["g"] for r in rows[:3]] + [rows[3] + [""]]
    with pytest.raises(ValueError, match=r"nogroup.csv' line 5: empty group for 'b/clip1.wav'"):
        load_manifest(_manifest(tmp_path / "nogroup.csv", ["file", "label", "group"], nogroup))

    lonely = rows[:3]
    with pytest.raises(ValueError, match=r"label 'b' in manifest '.*lonely.csv' has a single "
                                         r"clip \('.*lonely.csv' line 4\)"):
        load_manifest(_manifest(tmp_path / "lonely.csv", ["file", "label"], lonely))

    one_class = [[r[0], "a"] for r in rows]
    with pytest.raises(ValueError, match="only class left: a classifier needs at least two"):
        load_manifest(_manifest(tmp_path / "oneclass.csv", ["file", "label"], one_class))


def test_manifest_and_folder_of_the_same_clips_agree(tmp_path):
    root = tmp_path / "clips"
    for label, n in {"owl": 3, "crow": 4, "wren": 3}.items():
        for k in range(n):
            _clip(root / label / f"{k}.flac", sr=[8000, 16000, 22050][k % 3], channels=1 + k % 2)
    folder = load_folder(root, n_folds=3)
    rows = [[os.path.relpath(f, root), folder.target_names[t]]
            for f, t in zip(folder.filenames[::-1], folder.target[::-1])]
    manifest = load_manifest(_manifest(root / "list.csv", ["file", "label"], rows), n_folds=3)
    assert manifest.target_names.tolist() == folder.target_names.tolist()
    by_file = dict(zip(folder.filenames, folder.target))
    assert [by_file[f] for f in manifest.filenames] == manifest.target.tolist()
    assert sorted(manifest.filenames) == sorted(folder.filenames)
    assert manifest.clip_seconds_measured == folder.clip_seconds_measured


# --------------------------------------------------------------------------- load_dataset

def test_load_dataset_recognises_folders_and_manifests(tmp_path):
    root = _folder(tmp_path / "mine", {"b": 5, "a": 5})
    rows = [[f"{lab}/clip{k}.wav", lab] for lab in "ab" for k in range(5)]
    man = _manifest(root / "index.csv", ["file", "label"], rows)
    upper = _manifest(root / "INDEX.CSV", ["file", "label"], rows)
    assert detect_layout(root) == "folder"
    assert detect_layout(man) == detect_layout(upper) == "manifest"
    # the CLI's call: subset=None, salience="foreground" (its defaults)
    data = load_dataset(root, subset=None, salience="foreground")
    ref = load_folder(root)
    assert data.name == "mine"
    np.testing.assert_array_equal(data.filenames, ref.filenames)
    np.testing.assert_array_equal(data.fold, ref.fold)
    assert data.clip_seconds == 1.0
    listed = load_dataset(man, subset=None, salience="foreground")
    assert listed.name == "index" and listed.target_names.tolist() == ["a", "b"]
    np.testing.assert_array_equal(listed.filenames, load_manifest(man).filenames)


def test_load_dataset_refuses_options_of_other_layouts(tmp_path):
    root = _folder(tmp_path / "mine", {"b": 2, "a": 2})
    man = _manifest(root / "index.csv", ["file", "label"],
                    [[f"{lab}/clip{k}.wav", lab] for lab in "ab" for k in range(2)])
    for path in (root, man):
        with pytest.raises(ValueError, match=r"subset='esc10' is for ESC copies; '.*' is "):
            load_dataset(path, subset="esc10")
        with pytest.raises(ValueError, match="salience='background' is for UrbanSound8K"):
            load_dataset(path, salience="background")
        with pytest.raises(ValueError, match="classes='all' is for UrbanSound8K"):
            load_dataset(path, classes="all")


def test_detection_order_and_messages(tmp_path):
    esc10 = tmp_path / "esc10"
    _clip(esc10 / "001 - Dog bark" / "1-100032-A.wav")
    assert detect_layout(esc10) == "esc10"  # the official layout wins
    (tmp_path / "foreign" / "notes").mkdir(parents=True)
    (tmp_path / "foreign" / "notes" / "a.txt").write_text("no audio here\n")
    _clip(tmp_path / "foreign" / "loose.wav")  # audio, but in no subfolder
    with pytest.raises(ValueError, match=r"UrbanSound8K\.csv.*esc50\.csv.*001 - Dog bark.*"
                                         r"subfolders holding audio files.*\.csv file's path"):
        detect_layout(tmp_path / "foreign")
    with pytest.raises(ValueError, match="subfolders holding audio files"):
        load_dataset(tmp_path / "foreign")
    hidden = tmp_path / "hidden"
    _clip(hidden / ".git" / "x.wav")
    with pytest.raises(ValueError, match="no layout we know"):
        detect_layout(hidden)
    with pytest.raises(ValueError, match=r"'.*loose.wav' is a file but not a .csv manifest"):
        detect_layout(tmp_path / "foreign" / "loose.wav")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        detect_layout(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"manifest '.*missing.csv': no such file"):
        load_dataset(tmp_path / "missing.csv")


def test_folder_follows_links_once(tmp_path):
    root = _folder(tmp_path / "root", {"a": 2, "b": 2})
    extra = _folder(tmp_path / "extra", {"more": 2})
    try:
        os.symlink(extra / "more", root / "a" / "more")
        os.symlink(root / "a", root / "a" / "loop")  # a link back up the tree
    except (OSError, NotImplementedError):
        pytest.skip("no symbolic links here")
    data = load_folder(root, n_folds=2)
    assert _rel(data, root) == ["a/clip0.wav", "a/clip1.wav", "a/more/clip0.wav",
                                "a/more/clip1.wav", "b/clip0.wav", "b/clip1.wav"]
