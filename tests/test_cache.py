"""cached_transform: a hit reuses the stored features; files, settings and code each miss it."""

import os

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio import AudioLoader, MFCCStats
from sklearn_metricaudio.features import _cache, cached_transform


@pytest.fixture
def counted(monkeypatch):
    """Count the MFCC computations actually run (a cache hit runs none)."""
    calls = []
    original = MFCCStats.transform

    def transform(self, X):
        calls.append(len(X))
        return original(self, X)

    monkeypatch.setattr(MFCCStats, "transform", transform)
    return calls


def _files(tiny_us8k):
    data, _ = tiny_us8k
    return [str(f) for f in data.filenames[:4]]


def test_a_second_call_is_read_from_the_cache(tiny_us8k, tmp_path, counted):
    files = _files(tiny_us8k)
    pipe = make_pipeline(AudioLoader(duration=1.0), MFCCStats())
    first = cached_transform(pipe, files, memory=tmp_path)
    again = cached_transform(pipe, files, memory=tmp_path)
    assert counted == [4]  # computed once: the second call did not run the transformer
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(first, pipe.transform(files))
    # no memory: computed every time
    cached_transform(pipe, files, memory=None)
    assert len(counted) == 3  # (the direct pipe.transform above counted once too)


def test_changed_settings_files_or_code_miss_the_cache(tiny_us8k, tmp_path, counted,
                                                       monkeypatch):
    files = _files(tiny_us8k)
    pipe = make_pipeline(AudioLoader(duration=1.0), MFCCStats())
    cached_transform(pipe, files, memory=tmp_path)
    assert len(counted) == 1
    # a setting
    cached_transform(make_pipeline(AudioLoader(duration=1.0), MFCCStats(n_mfcc=13)), files,
                     memory=tmp_path)
    assert len(counted) == 2
    # a file's content (its size and modification time)
    st = os.stat(files[0])
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    cached_transform(pipe, files, memory=tmp_path)
    assert len(counted) == 3
    cached_transform(pipe, files, memory=tmp_path)
    assert len(counted) == 3
    # how the work is split does not change the features: still a hit
    cached_transform(make_pipeline(AudioLoader(duration=1.0, n_jobs=2), MFCCStats(batch_size=2)),
                     files, memory=tmp_path)
    assert len(counted) == 3
    # the feature code (what a new version or an edited install changes)
    monkeypatch.setattr(_cache, "feature_code_hash", lambda: "another version of the code")
    cached_transform(pipe, files, memory=tmp_path)
    assert len(counted) == 4
    # a library the features go through
    versions = _cache.library_versions()
    monkeypatch.setattr(_cache, "library_versions", lambda: {**versions, "librosa": "99.0"})
    cached_transform(pipe, files, memory=tmp_path)
    assert len(counted) == 5


def test_the_code_hash_covers_the_feature_modules():
    digest = _cache.feature_code_hash()
    assert len(digest) == 64 and digest == _cache.feature_code_hash()
    package = _cache._PACKAGE
    sources = {p.name for p in (package / "features").glob("*.py")}
    assert {"mfcc.py", "logmel.py", "_spectral.py", "audio.py"} <= sources


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        cached_transform(AudioLoader(), [str(tmp_path / "nowhere.wav")], memory=tmp_path)


def test_compute_features_decodes_the_audio_once_for_every_kind(tiny_us8k, tmp_path,
                                                                 monkeypatch):
    from sklearn_metricaudio.evaluation import compute_features

    data, _ = tiny_us8k
    decodes = []
    original = AudioLoader.transform
    monkeypatch.setattr(AudioLoader, "transform",
                        lambda self, X: decodes.append(len(X)) or original(self, X))
    features = compute_features(["mfcc", "logmel"], data, duration=1.0, cache_dir=tmp_path)
    assert decodes == [len(data.filenames)]
    for kind, f in features.items():
        from sklearn_metricaudio.evaluation import feature_pipeline

        expected = feature_pipeline(kind, duration=1.0).transform(list(data.filenames))
        np.testing.assert_array_equal(f.X, expected)
    decodes.clear()
    again = compute_features(["mfcc", "logmel"], data, duration=1.0, cache_dir=tmp_path)
    assert decodes == []  # both kinds read from the cache
    np.testing.assert_array_equal(again["logmel"].X, features["logmel"].X)


def test_training_deformations_run_at_the_features_rate(tiny_us8k):
    """At 16 kHz the evaluation's deformed versions are those of the deformations built for
    16 kHz (the compression's attack and release are in samples): the registry builds them
    for the rate it is given, and deformations built for another rate are refused."""
    from sklearn_metricaudio.augment import DynamicRangeCompression
    from sklearn_metricaudio.evaluation import compute_features, feature_pipeline, paper_models

    from sklearn.utils import Bunch

    data = Bunch(filenames=tiny_us8k[0].filenames[:3])
    deformations = paper_models("cosface", sr=16000)["cosface"].deformations
    assert {d.sr for _, d in deformations} == {16000}
    drc = [(n, d) for n, d in deformations if n == "DRC"]
    got = compute_features(["logmel"], data, duration=1.0, sr=16000, deformations=drc,
                           progress=False)["logmel"].deformed
    pipe = feature_pipeline("logmel", sr=16000, duration=1.0)
    waves = pipe[0].transform(list(data.filenames))
    variants = DynamicRangeCompression(sr=16000).transform(waves)   # (3, 4 presets, samples)
    expected = pipe[1].transform(variants.reshape(-1, variants.shape[-1]))
    np.testing.assert_allclose(got.astype(np.float32),
                               expected.reshape(got.shape).astype(np.float16), atol=0.1)
    # at 22.05 kHz the compressor's time constants span other stretches: not the same output
    other = DynamicRangeCompression(sr=22050).transform(waves)
    assert np.abs(other - variants).max() > 1e-3
    with pytest.raises(ValueError, match=r"deformation 'TS' is built for sr=22050, the "
                                         r"waveforms and their features are at sr=16000"):
        compute_features(["logmel"], data, duration=1.0, sr=16000, progress=False,
                         deformations=paper_models("cosface")["cosface"].deformations)
