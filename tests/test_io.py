import os
"""Decoding, resampling, atomic writes and AudioLoader, against soundfile/numpy."""

import pickle

import numpy as np
import pytest
import soundfile as sf
from sklearn.base import clone

from sklearn_metricaudio import AudioLoader
from sklearn_metricaudio._io import AudioDecodeError, atomic_directory, atomic_path, load_audio


def _sine(sr, seconds=1.0, freq=440.0, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(y, sr):
    spec = np.abs(np.fft.rfft(y))
    return np.argmax(spec) * sr / len(y)


@pytest.mark.parametrize("subtype,tol", [("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6),
                                         ("FLOAT", 0)])
def test_bit_depths_load_correctly(tmp_path, subtype, tol):
    y = _sine(22050)
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, y, 22050, subtype=subtype)
    out, sr = load_audio(path)
    assert sr == 22050 and out.dtype == np.float32
    np.testing.assert_allclose(out, y, atol=tol + 1e-7)


def test_multichannel_is_averaged(tmp_path):
    left, right = _sine(22050, freq=440), _sine(22050, freq=1000, amp=0.25)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    out, _ = load_audio(tmp_path / "st.wav")
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("file_sr", [8000, 11025, 44100, 48000, 96000])
def test_odd_rates_are_resampled(tmp_path, file_sr):
    y = _sine(file_sr, seconds=1.0, freq=1000.0)
    sf.write(tmp_path / "r.wav", y, file_sr, subtype="PCM_16")
    out, sr = load_audio(tmp_path / "r.wav", sr=22050)
    assert sr == 22050 and out.shape == (22050,)
    assert abs(_peak_hz(out, 22050) - 1000.0) <= 1.0
    # the interior keeps the sine's amplitude (edges have filter transients)
    assert abs(np.abs(out[2000:-2000]).max() - 0.5) < 0.01


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        load_audio(tmp_path / "nope.wav")


def test_corrupt_file_names_it(tmp_path):
    p = tmp_path / "corrupt.wav"
    p.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioDecodeError, match="corrupt.wav"):
        load_audio(p)


def test_empty_file_names_it(tmp_path):
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(AudioDecodeError, match="empty.wav.*no samples"):
        load_audio(p)


def test_nan_samples_name_the_file(tmp_path):
    y = _sine(22050)
    y[100] = np.nan
    p = tmp_path / "nan.wav"
    sf.write(p, y, 22050, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match="nan.wav.*NaN"):
        load_audio(p)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "f").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_keeps_the_earlier_directory_when_the_final_rename_fails(
        tmp_path, monkeypatch):
    """replace=True: the old directory is moved aside only at the end; if putting the new one
    in place fails then, the old one comes back, whole, and nothing else is left."""
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.md").write_text("earlier")
    real_replace = os.replace

    def failing_replace(src, dst):
        if ".part" in os.fspath(src):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        with atomic_directory(target, replace=True) as tmp:
            (tmp / "new.md").write_text("new")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == [target]
    assert [p.name for p in target.iterdir()] == ["old.md"]
    with atomic_directory(target, replace=True) as tmp:   # and a later run replaces it
        (tmp / "new.md").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.md"] and list(tmp_path.iterdir()) == [target]


# ----------------------------------------------------------------------------- AudioLoader
def test_loader_pads_and_cuts():
    clips = [np.arange(1, 4, dtype=np.float32), np.arange(10, dtype=np.float32)]
    rep = AudioLoader(sr=2, duration=3.0).fit_transform(clips)
    np.testing.assert_array_equal(rep, [[1, 2, 3, 1, 2, 3], [0, 1, 2, 3, 4, 5]])
    const = AudioLoader(sr=2, duration=3.0, pad="constant").fit_transform(clips)
    np.testing.assert_array_equal(const[0], [1, 2, 3, 0, 0, 0])


def test_loader_reads_paths_and_arrays_alike(tmp_path):
    ys = [_sine(22050, 0.5, f) for f in (300, 600)]
    paths = []
    for i, y in enumerate(ys):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], y, 22050, subtype="FLOAT")
    loader = AudioLoader(sr=22050, duration=1.0)
    from_paths = loader.transform([str(p) for p in paths])
    from_arrays = loader.transform(ys)
    np.testing.assert_array_equal(from_paths, from_arrays)
    assert from_paths.shape == (2, 22050) and from_paths.dtype == np.float32
    # parallel decoding gives the same
    np.testing.assert_array_equal(AudioLoader(duration=1.0, n_jobs=2).transform(paths), from_paths)


@pytest.mark.parametrize("fmt,subtype", [("ogg", "VORBIS"), ("flac", "PCM_16")])
def test_ogg_and_flac_decode_as_soundfile(tmp_path, fmt, subtype):
    y = _sine(44100, 1.0, 700)
    p = tmp_path / f"a.{fmt}"
    sf.write(p, y, 44100, format=fmt.upper(), subtype=subtype)
    ref, _ = sf.read(p, dtype="float32")
    out = AudioLoader(sr=44100, duration=None).transform([p])
    np.testing.assert_array_equal(out[0], ref)


def test_loader_errors():
    loader = AudioLoader(sr=100, duration=None)
    with pytest.raises(ValueError, match="different lengths.*duration"):
        loader.transform([np.zeros(5), np.zeros(6)])
    with pytest.raises(ValueError, match="clip 1 holds NaN"):
        loader.transform([np.zeros(5), np.array([0.0, np.nan])])
    with pytest.raises(ValueError, match="single path"):
        loader.transform("a.wav")
    with pytest.raises(ValueError, match="2-D"):
        loader.transform(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="clip 0 is empty"):
        loader.transform([np.zeros(0)])
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        loader.transform(["missing.wav"])
    with pytest.raises(ValueError, match="pad"):
        AudioLoader(pad="mirror").fit()


def test_loader_is_a_plain_estimator():
    loader = AudioLoader(sr=8000, duration=2.0, pad="constant")
    assert clone(loader).get_params() == loader.get_params()
    again = pickle.loads(pickle.dumps(loader))
    X = np.ones((2, 10), dtype=np.float32)
    np.testing.assert_array_equal(again.transform(X), loader.transform(X))


def test_integer_pcm_arrays_are_scaled_like_soundfile(tmp_path):
    pcm = (np.sin(np.linspace(0, 50, 1000)) * 20000).astype(np.int16)
    sf.write(tmp_path / "p.wav", pcm, 8000, subtype="PCM_16")
    ref, _ = sf.read(tmp_path / "p.wav", dtype="float32")
    out = AudioLoader(sr=8000, duration=None).transform(pcm[None, :])
    np.testing.assert_array_equal(out[0], ref)
    u8 = np.array([0, 128, 255], dtype=np.uint8)
    np.testing.assert_allclose(AudioLoader(sr=3, duration=None).transform([u8])[0],
                               [-1.0, 0.0, 127 / 128])
