"""ESC-50 / ESC-10 loader, predefined folds for any data set, Ogg/FLAC decoding."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.model_selection import cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_metricaudio import (AudioLoader, load_esc50, load_urbansound8k, predefined_fold_cv,
                                 urbansound8k_cv)

ESC10_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ESC-10"

# --------------------------------------------------------------------------- ESC-50 layout

HEADER = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
ROWS = [  # hand-written, deliberately out of order; cat is not an ESC-10 class
    ["2-114280-A.wav", 2, 0, "dog", "True", 114280, "A"],
    ["1-17367-A.wav", 1, 10, "rain", "True", 17367, "A"],
    ["1-34094-A.wav", 1, 5, "cat", "False", 34094, "A"],
    ["3-104958-B.wav", 3, 10, "rain", "True", 104958, "B"],
    ["1-100032-A.wav", 1, 0, "dog", "True", 100032, "A"],
    ["2-50000-A.wav", 2, 5, "cat", "False", 50000, "A"],
]


def _write_esc50(root, rows=ROWS, header=HEADER, audio=True):
    (root / "meta").mkdir(parents=True)
    with open(root / "meta" / "esc50.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    if audio:
        (root / "audio").mkdir()
        for r in rows:
            sf.write(root / "audio" / r[0], np.full(64, 0.1), 44100)
    return root


def _names(d):
    return [os.path.basename(f) for f in d.filenames]


def test_esc50_layout_all_classes(tmp_path):
    d = load_esc50(_write_esc50(tmp_path))
    assert _names(d) == ["1-100032-A.wav", "1-17367-A.wav", "1-34094-A.wav",
                         "2-114280-A.wav", "2-50000-A.wav", "3-104958-B.wav"]
    assert d.filenames[0] == str(tmp_path / "audio" / "1-100032-A.wav")
    assert list(d.target_names) == ["dog", "cat", "rain"]  # order of the csv's target 0, 5, 10
    assert d.target.tolist() == [0, 2, 1, 0, 1, 2]
    assert d.target_names[d.target].tolist() == ["dog", "rain", "cat", "dog", "cat", "rain"]
    assert d.fold.tolist() == [1, 1, 1, 2, 2, 3]
    assert d.fsID.tolist() == [100032, 17367, 34094, 114280, 50000, 104958]
    assert d.class_id.tolist() == [0, 10, 5, 0, 5, 10]
    assert d.take.tolist() == ["A", "A", "A", "A", "A", "B"]
    assert "ESC-50" in d.DESCR and "6 clips" in d.DESCR


def test_esc50_layout_esc10_subset(tmp_path):
    d = load_esc50(_write_esc50(tmp_path), subset="esc10")
    assert _names(d) == ["1-100032-A.wav", "1-17367-A.wav", "2-114280-A.wav", "3-104958-B.wav"]
    assert list(d.target_names) == ["dog", "rain"]  # renumbered 0..1 by the original 0, 10
    assert d.target.tolist() == [0, 1, 0, 1]
    assert d.fold.tolist() == [1, 1, 2, 3]
    assert d.fsID.tolist() == [100032, 17367, 114280, 104958]
    assert d.class_id.tolist() == [0, 10, 0, 10]


def test_esc50_bunch_matches_urbansound8k(tmp_path):
    """Same field names and dtypes as load_urbansound8k (salience aside)."""
    us = tmp_path / "us8k"
    (us / "metadata").mkdir(parents=True)
    with open(us / "metadata" / "UrbanSound8K.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID",
                    "class"])
        w.writerow(["100-3-0-0.wav", 100, 0, 1, 1, 1, 3, "dog_bark"])
    ref = load_urbansound8k(us, check_files=False)
    esc = load_esc50(_write_esc50(tmp_path / "esc"))
    assert set(ref) - {"salience"} <= set(esc)
    for key in set(ref) - {"salience", "DESCR"}:
        assert esc[key].dtype == ref[key].dtype, key


def test_esc50_layout_errors(tmp_path):
    bad = _write_esc50(tmp_path / "cols", header=HEADER[:5] + HEADER[6:],
                       rows=[r[:5] + r[6:] for r in ROWS], audio=False)
    with pytest.raises(ValueError, match=r"esc50\.csv' lacks column\(s\) \['src_file'\]"):
        load_esc50(bad)
    bad = _write_esc50(tmp_path / "cols2", header=HEADER[:4] + HEADER[5:6],
                       rows=[r[:4] + r[5:6] for r in ROWS], audio=False)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['esc10', 'take'\]"):
        load_esc50(bad)

    flag = [r[:] for r in ROWS]
    flag[3][4] = "yes"
    with pytest.raises(ValueError, match="line 5: esc10 must be True or False, got 'yes'"):
        load_esc50(_write_esc50(tmp_path / "flag", rows=flag, audio=False))
    fold = [r[:] for r in ROWS]
    fold[0][1] = "one"
    with pytest.raises(ValueError, match="line 2: non-integer fold"):
        load_esc50(_write_esc50(tmp_path / "fold", rows=fold, audio=False))
    clash = [r[:] for r in ROWS]
    clash[2][2] = 0  # cat with dog's target
    with pytest.raises(ValueError, match="target and category disagree"):
        load_esc50(_write_esc50(tmp_path / "clash", rows=clash, audio=False))
    twice = ROWS + [ROWS[0]]
    with pytest.raises(ValueError, match="'2-114280-A.wav' listed twice"):
        load_esc50(_write_esc50(tmp_path / "twice", rows=twice, audio=False))
    no10 = [r for r in ROWS if r[4] == "False"]
    root = _write_esc50(tmp_path / "no10", rows=no10)
    with pytest.raises(ValueError, match="no row with esc10 True"):
        load_esc50(root, subset="esc10")
    assert len(load_esc50(root).filenames) == 2
    with pytest.raises(ValueError, match="subset must be 'esc50' or 'esc10', got 'esc20'"):
        load_esc50(root, subset="esc20")


def test_esc50_layout_missing_audio(tmp_path):
    root = _write_esc50(tmp_path)
    os.remove(root / "audio" / "2-50000-A.wav")
    os.remove(root / "audio" / "1-100032-A.wav")
    with pytest.raises(FileNotFoundError) as err:
        load_esc50(root)
    msg = str(err.value)
    assert msg.startswith("2 audio file(s) listed in")
    assert str(root / "audio" / "2-50000-A.wav") in msg
    assert str(root / "audio" / "1-100032-A.wav") in msg
    assert len(load_esc50(root, check_files=False).filenames) == 6
    # the missing cat clip is not part of the ESC-10 subset, the dog clip is
    with pytest.raises(FileNotFoundError, match=r"^1 audio file.*1-100032-A\.wav'$"):
        load_esc50(root, subset="esc10")


def test_esc50_layout_many_missing_are_abridged(tmp_path):
    rows = [[f"1-{i}-A.wav", 1, 0, "dog", "True", i, "A"] for i in range(8)]
    rows.append(["2-99-A.wav", 2, 0, "dog", "True", 99, "A"])
    root = _write_esc50(tmp_path, rows=rows, audio=False)
    with pytest.raises(FileNotFoundError, match=r"^9 audio file.*1-4-A\.wav' and 4 more$"):
        load_esc50(root)


# --------------------------------------------------------------------------- ESC-10 layout

ESC10_FILES = {  # class folder -> clips (ogg and wav mixed)
    "001 - Dog bark": ["1-100032-A.ogg", "2-114280-A.wav"],
    "002 - Rain": ["1-17367-A.ogg", "1-17367-B.ogg"],
    "010 - Fire crackling": ["2-18766-A.wav", "3-104632-A.ogg"],
}


def _tone(freq, sr=8000, seconds=0.25, seed=0):
    t = np.arange(int(sr * seconds)) / sr
    noise = np.random.default_rng(seed).normal(scale=0.01, size=t.size)
    return (0.5 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def _write_esc10(root, files=ESC10_FILES, freqs=None, sr=8000):
    for k, (folder, names) in enumerate(files.items()):
        (root / folder).mkdir(parents=True)
        for i, name in enumerate(names):
            y = _tone(200 if freqs is None else freqs[k], sr=sr, seed=i)
            if name.endswith(".ogg"):
                sf.write(root / folder / name, y, sr, format="OGG", subtype="VORBIS")
            else:
                sf.write(root / folder / name, y, sr)
    return root


def test_esc10_layout(tmp_path):
    root = _write_esc10(tmp_path)
    (root / "README.md").write_text("not a class")
    (root / "extras").mkdir()  # not a class folder: ignored
    (root / "002 - Rain" / ".DS_Store").write_text("hidden: ignored")
    d = load_esc50(root, subset="esc10")
    assert _names(d) == ["1-100032-A.ogg", "1-17367-A.ogg", "1-17367-B.ogg",
                         "2-114280-A.wav", "2-18766-A.wav", "3-104632-A.ogg"]
    assert d.filenames[2] == str(root / "002 - Rain" / "1-17367-B.ogg")
    assert list(d.target_names) == ["Dog bark", "Rain", "Fire crackling"]
    assert d.target.tolist() == [0, 1, 1, 0, 2, 2]
    assert d.fold.tolist() == [1, 1, 1, 2, 2, 3]
    assert d.fsID.tolist() == [100032, 17367, 17367, 114280, 18766, 104632]
    assert d.class_id.tolist() == [1, 2, 2, 1, 10, 10]
    assert d.take.tolist() == ["A", "A", "B", "A", "A", "A"]
    assert "ESC-10" in d.DESCR and "6 clips" in d.DESCR
    # the rows load: ogg and wav alike
    X = AudioLoader(sr=8000, duration=0.25).fit_transform(d.filenames)
    assert X.shape == (6, 2000) and np.isfinite(X).all() and (np.abs(X).max(axis=1) > 0.4).all()


def test_esc10_layout_needs_esc10_subset(tmp_path):
    root = _write_esc10(tmp_path)
    with pytest.raises(ValueError, match="stand-alone ESC-10 layout.*only has the ESC-10 "
                                         "classes; pass subset='esc10'"):
        load_esc50(root)


@pytest.mark.parametrize("bad", ["dog1.ogg", "1-abc-A.ogg", "1-100-A.mp3", "1-100.ogg",
                                 "x1-100-A.wav"])
def test_esc10_layout_bad_file_name(tmp_path, bad):
    root = _write_esc10(tmp_path)
    (root / "002 - Rain" / bad).write_bytes(b"")
    with pytest.raises(ValueError) as err:
        load_esc50(root, subset="esc10")
    assert str(root / "002 - Rain" / bad) in str(err.value)
    assert "fold-clipid-take.ext" in str(err.value)


def test_esc10_layout_odd_folders(tmp_path):
    root = _write_esc10(tmp_path / "sub")
    (root / "001 - Dog bark" / "more").mkdir()
    with pytest.raises(ValueError, match="unexpected folder.*more'.*fold-clipid-take.ext"):
        load_esc50(root, subset="esc10")
    root = _write_esc10(tmp_path / "empty")
    (root / "011 - Cat").mkdir()
    with pytest.raises(ValueError, match="class folder .*011 - Cat' holds no clip"):
        load_esc50(root, subset="esc10")


def test_esc50_csv_wins_over_class_folders(tmp_path):
    root = _write_esc10(_write_esc50(tmp_path))
    d = load_esc50(root)
    assert list(d.target_names) == ["dog", "cat", "rain"] and len(d.filenames) == 6


@pytest.mark.parametrize("junk", [[], ["notes.txt", "audio/", "Dog bark/", "01 - Dog/"]])
def test_unknown_layout(tmp_path, junk):
    for j in junk:
        if j.endswith("/"):
            (tmp_path / j).mkdir()
        else:
            (tmp_path / j).write_text("x")
    with pytest.raises(ValueError) as err:
        load_esc50(tmp_path, subset="esc10")
    msg = str(err.value)
    assert str(tmp_path) in msg
    assert str(tmp_path / "meta" / "esc50.csv") in msg  # the ESC-50 metadata file
    assert "001 - Dog bark" in msg and r"^\d{3} - .+" in msg  # the ESC-10 class folders


def test_nonexistent_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="root directory not found.*nowhere"):
        load_esc50(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match="root directory not found"):
        load_esc50(tmp_path / "file", subset="esc10")


# --------------------------------------------------------------------------- folds

def test_predefined_fold_cv_on_loaded_folds(tmp_path):
    d = load_esc50(_write_esc10(tmp_path), subset="esc10")  # folds [1, 1, 1, 2, 2, 3]
    cv = predefined_fold_cv(d.fold)
    assert cv.get_n_splits() == 3
    splits = list(cv.split(d.filenames, d.target))
    assert [test.tolist() for _, test in splits] == [[0, 1, 2], [3, 4], [5]]
    assert [train.tolist() for train, _ in splits] == [[3, 4, 5], [0, 1, 2, 5], [0, 1, 2, 3, 4]]
    # urbansound8k_cv is the same splitter under the paper's name
    assert [t.tolist() for _, t in urbansound8k_cv(d.fold).split()] == [[0, 1, 2], [3, 4], [5]]
    e = load_esc50(_write_esc50(tmp_path / "esc50"))  # folds [1, 1, 1, 2, 2, 3]
    assert [t.tolist() for _, t in predefined_fold_cv(e.fold).split()] == [[0, 1, 2], [3, 4], [5]]
    with pytest.raises(ValueError, match="at least 2 folds"):
        predefined_fold_cv(d.fold[:3])
    with pytest.raises(ValueError, match="at least 2 folds"):  # -1 = always train, not a fold
        predefined_fold_cv(np.array([-1, -1, 1]))
    assert [t.tolist() for _, t in predefined_fold_cv(np.array([-1, 1, 2])).split()] == [[1], [2]]
    with pytest.raises(ValueError, match="integers"):
        predefined_fold_cv(d.fold.astype(float))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        predefined_fold_cv(d.fold.reshape(2, 3))


def _zero_crossing_rate(X):
    return np.mean(np.abs(np.diff(np.sign(X), axis=1)) > 0, axis=1, keepdims=True)


def test_cross_validation_from_file_names(tmp_path):
    """Files -> AudioLoader -> a one-number feature -> 1-NN, over the official folds."""
    files = {"001 - Dog bark": ["1-1-A.wav", "2-2-A.wav", "3-3-A.wav"],
             "002 - Rain": ["1-4-A.wav", "2-5-A.wav", "3-6-A.wav"]}
    d = load_esc50(_write_esc10(tmp_path, files, freqs=[150, 2500]), subset="esc10")
    pipe = make_pipeline(AudioLoader(sr=8000, duration=0.25),
                         FunctionTransformer(_zero_crossing_rate),
                         KNeighborsClassifier(n_neighbors=1))
    res = cross_validate(pipe, d.filenames, d.target, cv=predefined_fold_cv(d.fold),
                         return_indices=True)
    assert [t.tolist() for t in res["indices"]["test"]] == [[0, 1], [2, 3], [4, 5]]
    assert d.target.tolist() == [0, 1, 0, 1, 0, 1]
    np.testing.assert_array_equal(res["test_score"], [1.0, 1.0, 1.0])


# --------------------------------------------------------------------------- decoding

@pytest.mark.parametrize("fmt, subtype", [("OGG", "VORBIS"), ("FLAC", "PCM_16"),
                                          ("FLAC", "PCM_24")])
def test_ogg_and_flac_decode_like_soundfile(tmp_path, fmt, subtype):
    sr = 16000
    t = np.arange(sr // 2) / sr
    x = (0.5 * np.sin(2 * np.pi * (200 * t + 1500 * t ** 2))).astype(np.float32)  # chirp
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, x, sr, format=fmt, subtype=subtype)
    ref, ref_sr = sf.read(path, dtype="float32")
    assert ref_sr == sr
    n = ref.size
    # native rate, own length: the samples soundfile decodes, bit for bit
    got = AudioLoader(sr=sr, duration=None).fit_transform([str(path)])
    assert got.dtype == np.float32 and got.shape == (1, n)
    np.testing.assert_array_equal(got[0], ref)
    # a longer duration with zero padding keeps them and appends zeros
    longer = AudioLoader(sr=sr, duration=(n + 100) / sr, pad="constant").fit_transform([path])
    np.testing.assert_array_equal(longer[0, :n], ref)
    assert longer.shape == (1, n + 100) and not longer[0, n:].any()
    # a shorter duration cuts
    short = AudioLoader(sr=sr, duration=0.25).fit_transform([path])
    np.testing.assert_array_equal(short[0], ref[:4000])
    # and the decoded signal is the one written (lossless FLAC to its PCM step, Vorbis roughly)
    m = min(n, x.size)
    if fmt == "FLAC":
        np.testing.assert_allclose(ref[:m], x[:m], atol=2.0 ** -15 if subtype == "PCM_16" else 1e-6)
    else:
        assert np.corrcoef(ref[:m], x[:m])[0, 1] > 0.99


def test_stereo_flac_is_averaged(tmp_path):
    sr = 8000
    x = np.stack([_tone(300, sr), _tone(900, sr, seed=1)], axis=1)
    sf.write(tmp_path / "st.flac", x, sr, subtype="PCM_24")
    ref, _ = sf.read(tmp_path / "st.flac", dtype="float32")
    got = AudioLoader(sr=sr, duration=None).fit_transform([tmp_path / "st.flac"])
    np.testing.assert_allclose(got[0], ref.mean(axis=1), atol=1e-6)


# --------------------------------------------------------------------------- the real ESC-10

@pytest.fixture(scope="module")
def esc10_real():
    if not (ESC10_REAL / "001 - Dog bark").is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10_REAL}: clone github.com/karoldvl/ESC-10 there "
                    "to run the real-data checks")
    return load_esc50(ESC10_REAL, subset="esc10")


def test_real_esc10_file_list(esc10_real):
    d = esc10_real
    assert len(d.filenames) == 400
    assert list(d.target_names) == ["Dog bark", "Rain", "Sea waves", "Baby cry", "Clock tick",
                                    "Person sneeze", "Helicopter", "Chainsaw", "Rooster",
                                    "Fire crackling"]
    assert d.class_id.tolist() == (d.target + 1).tolist()
    assert np.bincount(d.target).tolist() == [40] * 10
    assert sorted(set(d.fold.tolist())) == [1, 2, 3, 4, 5]
    assert np.bincount(d.fold)[1:].tolist() == [80] * 5
    for k in range(1, 6):  # 8 clips of every class in every fold
        assert np.bincount(d.target[d.fold == k], minlength=10).tolist() == [8] * 10
    for src in np.unique(d.fsID):  # clips of one source recording never straddle folds
        assert len(set(d.fold[d.fsID == src].tolist())) == 1
    assert set(d.take.tolist()) <= set("ABCDEFGHIJ")
    assert all(os.path.isfile(f) and f.endswith(".ogg") for f in d.filenames)
    assert np.all(np.diff(d.fold) >= 0)  # sorted by fold
    assert [len(test) for _, test in predefined_fold_cv(d.fold).split()] == [80] * 5
    with pytest.raises(ValueError, match="only has the ESC-10 classes"):
        load_esc50(ESC10_REAL)


def test_real_esc10_decodes(esc10_real):
    d = esc10_real
    first = [int(np.flatnonzero(d.target == k)[0]) for k in range(10)]
    files = d.filenames[first]
    sr, seconds = 44100, 5.0
    X = AudioLoader(sr=sr, duration=seconds).fit_transform(files)
    assert X.shape == (10, int(sr * seconds)) and X.dtype == np.float32
    assert np.isfinite(X).all()
    assert (np.abs(X).max(axis=1) > 0.05).all() and (X.std(axis=1) > 1e-3).all()  # not silent
    for f, row in zip(files[:2], X[:2]):  # 44.1 kHz files: no resampling, soundfile's samples
        ref, ref_sr = sf.read(f, dtype="float32")
        assert ref_sr == sr
        np.testing.assert_array_equal(row[: min(ref.size, row.size)], ref[: row.size])
    low = AudioLoader(sr=22050, duration=seconds).fit_transform(files[:1])
    assert low.shape == (1, 110250) and np.isfinite(low).all()


# --------------------------------------------------------------------------- any layout

def test_load_dataset_recognises_each_layout(tmp_path, tiny_us8k):
    from sklearn_metricaudio.datasets import detect_layout, load_dataset

    _, us8k_root = tiny_us8k
    esc50 = _write_esc50(tmp_path / "esc50")
    esc10 = _write_esc10(tmp_path / "esc10")
    assert [detect_layout(r) for r in (us8k_root, esc50, esc10)] == ["urbansound8k", "esc50",
                                                                      "esc10"]
    us8k = load_dataset(us8k_root)
    assert (us8k.name, us8k.clip_seconds) == ("UrbanSound8K", 4.0)
    assert us8k.filenames.tolist() == load_urbansound8k(us8k_root).filenames.tolist()
    d50 = load_dataset(esc50)
    assert (d50.name, d50.clip_seconds, len(d50.filenames)) == ("ESC-50", 5.0, 6)
    d10 = load_dataset(esc50, subset="esc10")
    assert (d10.name, len(d10.filenames)) == ("ESC-10", 4)
    folders = load_dataset(esc10)
    assert folders.name == "ESC-10"
    assert folders.fsID.tolist() == load_esc50(esc10, subset="esc10").fsID.tolist()


def test_load_dataset_errors_name_what_was_looked_for(tmp_path, tiny_us8k):
    from sklearn_metricaudio.datasets import load_dataset

    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "foreign").mkdir()
    with pytest.raises(ValueError, match=r"UrbanSound8K\.csv.*esc50\.csv.*001 - Dog bark"):
        load_dataset(tmp_path / "foreign")
    _, us8k_root = tiny_us8k
    with pytest.raises(ValueError, match="subset='esc10' is for ESC copies"):
        load_dataset(us8k_root, subset="esc10")
    with pytest.raises(ValueError, match="salience is an UrbanSound8K column"):
        load_dataset(_write_esc50(tmp_path / "esc50"), salience="background")
    with pytest.raises(ValueError, match="salience must be"):
        load_dataset(us8k_root, salience="loud")
