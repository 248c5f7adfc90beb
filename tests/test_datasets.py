"""UrbanSound8K loader, predefined folds and the synthetic generator."""

import csv
import os

import numpy as np
import pytest
import soundfile as sf

from sklearn_metricaudio import load_urbansound8k, make_urban_sounds, urbansound8k_cv
from sklearn_metricaudio.datasets import synthetic

HEADER = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
ROWS = [  # a hand-written 5-row metadata file
    ["100-3-0-0.wav", 100, 0.0, 1.0, 1, 1, 3, "dog_bark"],
    ["101-8-0-0.wav", 101, 0.0, 1.0, 2, 1, 8, "siren"],
    ["102-8-0-1.wav", 102, 1.0, 2.0, 1, 2, 8, "siren"],
    ["103-2-0-0.wav", 103, 0.0, 1.0, 1, 2, 2, "children_playing"],
    ["104-0-0-0.wav", 104, 0.0, 1.0, 1, 3, 0, "air_conditioner"],
]


def _write_layout(root, rows=ROWS, header=HEADER, audio=True):
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    if audio:
        for r in rows:
            d = root / "audio" / f"fold{r[5]}"
            d.mkdir(parents=True, exist_ok=True)
            sf.write(d / r[0], np.zeros(100), 44100, subtype="PCM_24")


def test_hand_written_csv(tmp_path):
    _write_layout(tmp_path)
    d = load_urbansound8k(tmp_path)  # paper8, foreground
    assert [os.path.basename(f) for f in d.filenames] == ["100-3-0-0.wav", "102-8-0-1.wav",
                                                          "104-0-0-0.wav"]
    assert d.target_names[d.target].tolist() == ["dog_bark", "siren", "air_conditioner"]
    assert d.target.tolist() == [2, 6, 0]  # index in the paper8 list
    assert d.fold.tolist() == [1, 2, 3] and d.fsID.tolist() == [100, 102, 104]
    assert d.filenames[1].endswith(os.path.join("audio", "fold2", "102-8-0-1.wav"))
    both = load_urbansound8k(tmp_path, classes=["siren"], salience=None)
    assert both.fold.tolist() == [1, 2] and both.salience.tolist() == [2, 1]
    assert both.target.tolist() == [0, 0]
    bg = load_urbansound8k(tmp_path, classes="all", salience="background")
    assert bg.target_names[bg.target].tolist() == ["siren"]
    assert len(load_urbansound8k(tmp_path, classes="all", salience=None).filenames) == 5


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="root directory not found.*nowhere"):
        load_urbansound8k(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="UrbanSound8K.csv"):
        load_urbansound8k(tmp_path)
    _write_layout(tmp_path / "cols", header=HEADER[:-1], rows=[r[:-1] for r in ROWS], audio=False)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['class'\]"):
        load_urbansound8k(tmp_path / "cols")
    _write_layout(tmp_path / "ok")
    with pytest.raises(ValueError, match="unknown class name.*'sirens'"):
        load_urbansound8k(tmp_path / "ok", classes=["sirens"])
    with pytest.raises(ValueError, match="salience"):
        load_urbansound8k(tmp_path / "ok", salience="front")
    os.remove(tmp_path / "ok" / "audio" / "fold2" / "102-8-0-1.wav")
    with pytest.raises(FileNotFoundError, match="1 audio file.*102-8-0-1.wav"):
        load_urbansound8k(tmp_path / "ok")
    assert len(load_urbansound8k(tmp_path / "ok", check_files=False).filenames) == 3


def test_predefined_split_round_trips():
    fold = np.array([3, 1, 2, 1, 3, 2, 2])
    cv = urbansound8k_cv(fold)
    assert cv.get_n_splits() == 3
    seen = np.zeros(len(fold), int)
    for k, (train, test) in zip([1, 2, 3], cv.split()):
        np.testing.assert_array_equal(test, np.flatnonzero(fold == k))
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(7))
        seen[test] += 1
    assert (seen == 1).all()
    with pytest.raises(ValueError, match="at least 2 folds"):
        urbansound8k_cv([1, 1])
    with pytest.raises(ValueError, match="integers"):
        urbansound8k_cv([1.5, 2.0])


def test_synthetic_is_deterministic_and_balanced():
    a = make_urban_sounds(n_per_class=3, n_folds=3, random_state=7)
    b = make_urban_sounds(n_per_class=3, n_folds=3, random_state=7)
    c = make_urban_sounds(n_per_class=3, n_folds=3, random_state=8)
    assert len(a.data) == 24
    for x, y in zip(a.data, b.data):
        np.testing.assert_array_equal(x, y)
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a.data, c.data))
    assert np.bincount(a.target).tolist() == [3] * 8
    for k in range(8):  # every class in every fold
        assert sorted(a.fold[a.target == k].tolist()) == [1, 2, 3]
    durations = np.array([x.size for x in a.data]) / a.sr
    assert durations.min() >= 0.5 - 1e-3 and durations.max() <= 4.0
    # sources (fsID) never straddle folds
    for fs in np.unique(a.fsID):
        assert len(set(a.fold[a.fsID == fs])) == 1
    assert all(np.isfinite(x).all() and 0 < np.abs(x).max() <= 1 for x in a.data)


def test_synthetic_layout_reads_back_and_is_cached(tiny_us8k):
    d, root = tiny_us8k
    loaded = load_urbansound8k(root)
    assert loaded.filenames.tolist() == d.filenames.tolist()
    np.testing.assert_array_equal(loaded.target, d.target)
    np.testing.assert_array_equal(loaded.fold, d.fold)
    for f, x in zip(d.filenames[:5], d.data[:5]):
        y, sr = sf.read(f, dtype="float32")
        assert sr == d.sr
        np.testing.assert_array_equal(y, x)  # 16-bit grid: exact
    mtime = os.path.getmtime(d.filenames[0])
    again = make_urban_sounds(root, n_per_class=4, n_folds=2, min_duration=0.5,
                              max_duration=1.5, random_state=0)
    assert os.path.getmtime(d.filenames[0]) == mtime  # reused, not rewritten
    for x, y in zip(again.data, d.data):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(FileExistsError, match="does not hold a synthetic set"):
        make_urban_sounds(root, n_per_class=5, n_folds=2, random_state=0)


def test_synthetic_failure_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = synthetic.sf.write

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic.sf, "write", flaky)
    with pytest.raises(OSError, match="disk full"):
        make_urban_sounds(tmp_path / "set", n_per_class=2, n_folds=2)
    assert list(tmp_path.iterdir()) == []


def test_synthetic_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_per_class"):
        make_urban_sounds(n_per_class=0)
    with pytest.raises(ValueError, match="min_duration"):
        make_urban_sounds(min_duration=3, max_duration=2)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "precious.txt").write_text("x")
    with pytest.raises(FileExistsError):
        make_urban_sounds(tmp_path / "user", n_per_class=1, n_folds=1)
    assert (tmp_path / "user" / "precious.txt").read_text() == "x"


def test_get_data_home_reads_the_argument_then_the_environment_then_the_default(monkeypatch,
                                                                                 tmp_path):
    from pathlib import Path

    from sklearn_metricaudio.datasets import get_data_home

    monkeypatch.setenv("METRICAUDIO_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "given") == tmp_path / "given"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("METRICAUDIO_DATA")
    assert get_data_home() == Path.home() / ".cache" / "sklearn_metricaudio"
