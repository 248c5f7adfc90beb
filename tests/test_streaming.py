"""Streaming prediction over long recordings (deploy.streaming).

The reference for every window is the model called on the same stretch cut from the whole
signal in memory (read with ``soundfile.read``, resampled with scipy directly), at window
starts computed here from ``window`` and ``hop``; files are built from known segments, so
events are checked against the segments' true labels and boundaries.
"""

import csv
import os
import sys
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_metricaudio import AudioLoader, LogMelPatches, MarginEmbeddingClassifier
from sklearn_metricaudio._io import AudioDecodeError
from sklearn_metricaudio.deploy.streaming import (SoundEvent, WindowPrediction, predict_stream,
                                                  stream_events, write_events_csv)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 8000


def _band_shares(X):
    """Share of the spectral energy below 1 kHz, in 1.5-2.5 kHz and elsewhere (at 8 kHz)."""
    P = np.abs(np.fft.rfft(X, axis=1)) ** 2 + 1e-12
    f = np.fft.rfftfreq(X.shape[1], 1 / SR)
    low, high = P[:, f < 1000].sum(1), P[:, (f > 1500) & (f < 2500)].sum(1)
    total = P.sum(1)
    return np.stack([low, high, total - low - high], axis=1) / total[:, None]


def _sound(kind, seconds, rng, sr=SR):
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    noise = rng.standard_normal(n)
    if kind == "silence":  # digital silence, as ESC pads its clips
        return np.zeros(n)
    if kind == "noise":
        return 0.3 * noise
    f0 = {"low": 500.0, "high": 2000.0}[kind]
    return 0.5 * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi)) + 0.01 * noise


KINDS = ("low", "high", "noise")


@pytest.fixture(scope="module")
def band_model():
    """AudioLoader -> band energy shares -> logistic regression: tones and noise apart."""
    rng = np.random.default_rng(0)
    X = np.stack([_sound(k, 1.0, rng) for k in KINDS for _ in range(8)]).astype(np.float32)
    y = np.repeat(KINDS, 8)
    model = make_pipeline(AudioLoader(sr=SR, duration=1.0), FunctionTransformer(_band_shares),
                          LogisticRegression())
    return model.fit(X, y)


@pytest.fixture(scope="module")
def margin_model():
    """The real front end and classifier, tiny: 8 kHz, 1-s clips of two tones."""
    rng = np.random.default_rng(1)
    X = np.stack([_sound(k, 1.0, rng) for k in ("low", "high") for _ in range(8)])
    y = np.repeat(["low", "high"], 8)
    model = make_pipeline(
        AudioLoader(sr=SR, duration=1.0),
        LogMelPatches(sr=SR, n_mels=32, n_fft=256, hop_length=64, segment_seconds=0.5),
        MarginEmbeddingClassifier(width=0.25, epochs=2, batch_size=8, validation_split=None,
                                  random_state=0),
    )
    return model.fit(X.astype(np.float32), y)


def _write(path, segments, sr=SR, rng=None, channels=1, subtype="PCM_16"):
    """Write the concatenated segments [(kind, seconds), ...]; return the true boundaries."""
    rng = np.random.default_rng(2) if rng is None else rng
    parts = [_sound(k, s, rng, sr) for k, s in segments]
    x = np.concatenate(parts)
    if channels == 2:  # two different channels: the stream must average them
        x = np.stack([x, 0.5 * x[::-1]], axis=1)
    sf.write(path, x, sr, subtype=subtype)
    return np.cumsum([0.0] + [s for _, s in segments])


def _reference(model, path, window, hop):
    """(starts, ends, labels, scores) of the model on windows cut from the whole file."""
    x, file_sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    w, h = int(round(window * file_sr)), int(round(hop * file_sr))
    assert h == hop * file_sr  # the tests pick hops of whole frames
    starts = list(range(0, x.size - w + 1, h)) or [0]
    if starts[-1] + w < x.size:
        starts.append(max(0, x.size - w))  # the last window, flush with the end
    sr = model.steps[0][1].sr
    ratio = Fraction(sr, file_sr)
    clips = []
    for s in starts:
        seg = x[s: s + w]
        if ratio != 1:
            seg = resample_poly(seg, ratio.numerator, ratio.denominator).astype(np.float32)
        clips.append(seg)
    X = np.stack(clips) if len({c.size for c in clips}) == 1 else clips
    ends = [min(s + w, x.size) / file_sr for s in starts]
    return (np.array(starts) / file_sr, np.array(ends), model.predict(X), model.predict_proba(X),
            list(model.classes_))


def _check_equal(windows, ref):
    starts, ends, labels, scores, classes = ref
    assert len(windows) == len(starts)
    np.testing.assert_allclose([w.start for w in windows], starts, atol=1e-9)
    np.testing.assert_allclose([w.end for w in windows], ends, atol=1e-9)
    assert [w.label for w in windows] == list(labels)
    np.testing.assert_allclose(np.stack([w.scores for w in windows]), scores, atol=1e-5)
    for w in windows:
        assert w.score == w.scores[classes.index(w.label)]


SEGMENTS = [("low", 3.0), ("noise", 2.5), ("high", 4.0), ("low", 2.1)]


@pytest.mark.parametrize("file_sr, channels, subtype", [(SR, 1, "PCM_16"), (16000, 2, "FLOAT")])
def test_windows_equal_the_model_on_windows_cut_in_memory(band_model, tmp_path, file_sr,
                                                          channels, subtype):
    path = tmp_path / "rec.wav"
    _write(path, SEGMENTS, sr=file_sr, channels=channels, subtype=subtype)
    # blocks shorter than a window, and batches that do not divide the count
    windows = list(predict_stream(band_model, path, window=1.0, hop=0.25, block_seconds=0.3,
                                  batch_windows=5))
    _check_equal(windows, _reference(band_model, str(path), 1.0, 0.25))
    assert all(isinstance(w, WindowPrediction) for w in windows)
    assert windows[-1].end == pytest.approx(11.6)  # the last window is flush with the end
    assert windows[-1].start == pytest.approx(10.6)


def test_events_recover_the_segments_within_one_hop(band_model, tmp_path):
    path = tmp_path / "rec.wav"
    bounds = _write(path, SEGMENTS)
    hop = 0.25
    events = list(stream_events(predict_stream(band_model, path, window=1.0, hop=hop,
                                               block_seconds=2.0)))
    assert [e.label for e in events] == [k for k, _ in SEGMENTS]
    np.testing.assert_allclose([e.start for e in events], bounds[:-1], atol=hop)
    np.testing.assert_allclose([e.end for e in events], bounds[1:], atol=hop)
    assert events[0].start == 0.0 and events[-1].end == pytest.approx(bounds[-1])
    assert all(0.5 < e.score <= 1.0 for e in events)


def test_real_margin_pipeline_streams_like_in_memory(margin_model, tmp_path):
    path = tmp_path / "rec.wav"
    _write(path, [("low", 2.0), ("high", 2.5)])
    windows = list(predict_stream(margin_model, path, window=1.0, hop=0.5, batch_windows=3))
    _check_equal(windows, _reference(margin_model, str(path), 1.0, 0.5))
    # (two epochs on 16 clips: the labels themselves are not the point here)


def test_real_model_leaves_silent_segments_out_as_in_memory(margin_model, tmp_path):
    # windows [1, 2] and [2, 3] s: one 0.5-s segment with sound, one of digital silence (the
    # sound ends 0.3 s before it or starts 0.3 s after it, beyond the STFT's reach): the
    # margin model counts only the sounding one, in the stream (one embedding for labels and
    # scores) as in the pipeline's own predict and predict_proba
    path = tmp_path / "gaps.wav"
    _write(path, [("low", 1.2), ("silence", 1.6), ("high", 1.2)])
    windows = list(predict_stream(margin_model, path, window=1.0, hop=0.5))
    _check_equal(windows, _reference(margin_model, str(path), 1.0, 0.5))
    margin = margin_model[-1]
    X = margin_model[:-1].transform(sf.read(path, dtype="float32")[0][None, 8000:16000])
    assert (X.max(axis=(2, 3)) > margin.silence_db).tolist() == [[True, False]]
    counted = margin.sounding_segments(X)  # the windows: those wholly in the silence do not
    assert counted[0, 0] and not counted[0, -1]


@pytest.mark.parametrize("layer", [9, ("embedding", 9)])
def test_a_calibrated_block_rejection_streams_like_in_memory(margin_model, tmp_path, layer):
    # rejection_layer=9 (or with the embedding), calibrated to accept half of the training
    # clips: the stream's
    # labels (one embedding per window for labels and scores) reject the windows the
    # pipeline's own predict rejects
    path = tmp_path / "rec.wav"
    _write(path, [("low", 2.0), ("noise", 1.5), ("high", 2.5)])
    rng = np.random.default_rng(1)
    X = np.stack([_sound(k, 1.0, rng) for k in ("low", "high") for _ in range(8)])
    model = clone(margin_model).set_params(marginembeddingclassifier__rejection_layer=layer,
                                           marginembeddingclassifier__validation_split=0.25)
    model.fit(X.astype(np.float32), np.repeat(["low", "high"], 8))
    model[-1].calibrate(model[:-1].transform(X.astype(np.float32)), true_accept=0.5)
    windows = list(predict_stream(model, path, window=1.0, hop=0.5))
    starts, ends, labels, scores, classes = _reference(model, str(path), 1.0, 0.5)
    assert "unknown" in list(labels) and set(labels) - {"unknown"}
    assert [w.label for w in windows] == list(labels)
    np.testing.assert_allclose(np.stack([w.scores for w in windows]), scores, atol=1e-5)


def test_recording_shorter_than_a_window(band_model, tmp_path, capsys):
    path = tmp_path / "short.wav"
    _write(path, [("high", 0.6)])
    (w,) = predict_stream(band_model, path, window=1.0, progress=True)
    assert "short.wav" in capsys.readouterr().err  # the tqdm bar
    assert (w.start, w.end) == (0.0, pytest.approx(0.6))
    _check_equal([w], _reference(band_model, str(path), 1.0, 0.5))  # the loader pads it


class _Rejecting(LogisticRegression):
    """Open-set stand-in: 'unknown' where the top probability is below 0.9."""

    def predict(self, X):
        labels = super().predict(X).astype(object)
        labels[self.predict_proba(X).max(axis=1) < 0.9] = "unknown"
        return labels


def test_labels_outside_classes_and_no_scores(band_model, tmp_path):
    path = tmp_path / "rec.wav"
    _write(path, SEGMENTS)
    rejecting = make_pipeline(*band_model[:-1], _Rejecting())
    rejecting[-1].__dict__.update(band_model[-1].__dict__)  # the same fitted coefficients
    windows = list(predict_stream(rejecting, path, window=1.0, hop=0.25))
    unknown = [w for w in windows if w.label == "unknown"]
    assert unknown, "the straddling windows should include unsure ones"
    assert all(np.isnan(w.score) and w.scores.max() < 0.9 for w in unknown)
    known = [w for w in windows if w.label != "unknown"]
    assert all(w.score == w.scores.max() >= 0.9 for w in known)
    plain = list(predict_stream(band_model, path, window=1.0, hop=0.25, scores=None))
    full = list(predict_stream(band_model, path, window=1.0, hop=0.25))
    assert [w.label for w in plain] == [w.label for w in full]
    assert all(np.isnan(w.score) and w.scores.shape == (0,) for w in plain)


def test_loader_without_duration(band_model, tmp_path):
    path = tmp_path / "rec.wav"
    _write(path, SEGMENTS)
    free = make_pipeline(AudioLoader(sr=SR, duration=None), *band_model[1:])
    windows = list(predict_stream(free, path, window=1.0, hop=0.5))
    _check_equal(windows, _reference(band_model, str(path), 1.0, 0.5))
    short = tmp_path / "short.wav"
    _write(short, [("high", 0.6)])
    (w,) = predict_stream(free, short, window=1.0)  # zero-padded to the window
    x = np.zeros(SR, np.float32)
    x[: int(0.6 * SR)] = sf.read(short, dtype="float32")[0]
    assert (w.end, w.label) == (pytest.approx(0.6), free.predict(x[None])[0])
    np.testing.assert_allclose(w.scores, free.predict_proba(x[None])[0])


def _memory_along_the_stream(model, path, every=100):
    """Python-level memory in use (tracemalloc, after a garbage collection) every ``every``
    windows of the stream, and the peak over the whole stream."""
    import gc

    tracemalloc.start()
    try:
        samples, n = [], 0
        for n, _ in enumerate(predict_stream(model, path, window=1.0, hop=0.5,
                                             block_seconds=1.0, batch_windows=8), 1):
            if n % every == 0:
                gc.collect()
                samples.append(tracemalloc.get_traced_memory()[0])
        return samples, tracemalloc.get_traced_memory()[1], n
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_length(band_model, tmp_path):
    """Nothing accumulates per window: the memory in use after 100 windows and after 400 is
    the same up to a few kB (keeping each yielded window would add about 30 kB per 100
    windows), and the peak never holds the file (the peak is the model's working set)."""
    kinds = [("low", 5.0), ("noise", 5.0), ("high", 5.0)]
    _write(tmp_path / "b.wav", kinds * 16)   # 240 s: 7.7 MB of float32 samples
    in_use, peak, n = _memory_along_the_stream(band_model, tmp_path / "b.wav")
    assert n == 479 and len(in_use) == 4
    per_100 = (in_use[-1] - in_use[0]) / (len(in_use) - 1)
    assert per_100 < 8_000, in_use
    assert peak < 240 * SR * 4 / 2, "half the file was held in memory"


_RSS_CHILD = """
import os, sys
from sklearn_metricaudio.deploy import load_model, predict_stream
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * page
model = load_model(sys.argv[1])
n, first, peak = 0, None, 0
for n, _ in enumerate(predict_stream(model, sys.argv[2], window=1.0, hop=0.25,
                                     scores=None), 1):
    if n == 40:
        first = rss()  # the model loaded and warmed up, the first blocks read
    peak = max(peak, rss())
print(n, first, peak)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm")
def test_margin_model_stream_resident_memory_does_not_grow_with_the_length(margin_model,
                                                                          tmp_path):
    """The README's flat peak memory, for the real network (torch's memory is invisible to
    tracemalloc): in a fresh process streaming 600 s, the resident size never rises more
    than 8 MB above what it was 10 s in; holding the file's samples would add 19 MB. (It
    wanders by about 4 MB as the predictions' temporary arrays come and go, without a
    trend: 829, 832, 829 MB over one run.)"""
    import subprocess

    from sklearn_metricaudio.deploy import save_model

    model = save_model(margin_model, tmp_path / "model.skops")
    _write(tmp_path / "b.wav", [("low", 5.0), ("high", 5.0)] * 60)   # 600 s at 8 kHz
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(model), str(tmp_path / "b.wav")],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    n, first, peak = map(int, out.stdout.split())
    assert n == 2397
    assert peak - first < 8 << 20, (first, peak)


def test_truncated_wav_yields_what_it_holds_then_raises(band_model, tmp_path):
    full = tmp_path / "full.wav"
    _write(full, SEGMENTS[:3])  # 9.5 s, 16-bit mono: 44-byte header
    n = int(4.3 * SR)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 2 * n + 1])  # a frame and a half byte short
    windows = []
    with pytest.raises(AudioDecodeError) as err:
        for w in predict_stream(band_model, cut, window=1.0, hop=0.5):
            windows.append(w)
    msg = str(err.value)
    assert "cut.wav" in msg and f"sample frame {n}" in msg and "4.300 s" in msg
    assert "truncated" in msg and f"'data' chunk of {2 * int(9.5 * SR)} bytes" in msg
    head = tmp_path / "head.wav"  # the reference: what the truncated file holds
    sf.write(head, sf.read(full, dtype="int16")[0][:n], SR, subtype="PCM_16")
    _check_equal(windows, _reference(band_model, str(head), 1.0, 0.5))
    assert windows[-1].end == pytest.approx(4.3)


def test_corrupt_flac_yields_the_windows_before_the_damage_then_raises(band_model, tmp_path):
    clean = tmp_path / "clean.flac"
    _write(clean, SEGMENTS[:3])  # 9.5 s
    data = bytearray(clean.read_bytes())
    mid = len(data) // 2
    data[mid: mid + 2000] = np.random.default_rng(0).integers(0, 256, 2000, np.uint8).tobytes()
    bad = tmp_path / "bad.flac"
    bad.write_bytes(bytes(data))
    windows = []
    with pytest.raises(AudioDecodeError) as err:
        for w in predict_stream(band_model, bad, window=1.0, hop=0.5, block_seconds=0.5):
            windows.append(w)
    msg = str(err.value)
    assert "bad.flac" in msg and "sample frame" in msg
    frame = int(msg.split("sample frame ")[1].split(")")[0])
    # the reference: how many frames libsndfile hands out one by one before it fails (the
    # read that fails may have delivered its frame too: libsndfile 1.2 decodes ahead)
    decodable = 0
    with sf.SoundFile(bad) as f, pytest.raises(sf.LibsndfileError):
        while f.read(1, dtype="int16").size:
            decodable += 1
    assert decodable <= frame <= decodable + 1  # no frame decoded before the damage is lost
    assert 0 < frame < 0.9 * 9.5 * SR and frame % 4000  # the middle, within a block read
    assert f"{frame / SR:.3f} s" in msg
    # every window of the readable part, equal to the clean file's, the last flush with it
    head = tmp_path / "head.wav"
    sf.write(head, sf.read(clean, dtype="int16")[0][:frame], SR, subtype="PCM_16")
    _check_equal(windows, _reference(band_model, str(head), 1.0, 0.5))
    assert windows[-1].end == pytest.approx(frame / SR)


def test_nan_samples_raise_with_their_offset(band_model, tmp_path):
    x = _sound("low", 3.0, np.random.default_rng(0)).astype(np.float32)
    x[20000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    windows = []
    with pytest.raises(AudioDecodeError, match=r"nan\.wav.*2\.500 s \(sample frame 20000\).*NaN"):
        for w in predict_stream(band_model, path, window=1.0, hop=0.5):
            windows.append(w)
    assert [w.start for w in windows] == [0.0, 0.5, 1.0, 1.5]
    assert windows[-1].end == 2.5


def _w(start, end, label, score):
    return WindowPrediction(start, end, label, score, np.array([score]))


def test_stream_events_merges_runs_and_maps_time_to_centres():
    w = [_w(0, 4, "a", 0.9), _w(2, 6, "a", 0.7), _w(4, 8, "b", 0.6), _w(6, 10, "b", 0.4),
         _w(7, 11, "a", 0.5)]  # the last one flush with the end, 1 s after the previous
    events = list(stream_events(w))
    # centres 2, 4, 6, 8, 9: stretches [0,3) [3,5) [5,7) [7,8.5) [8.5,11]
    assert events == [SoundEvent(0, 5.0, "a", pytest.approx(0.8)),
                      SoundEvent(5.0, 8.5, "b", pytest.approx(0.5)),
                      SoundEvent(8.5, 11, "a", 0.5)]
    # a window below min_score ends its run and its stretch is in no event
    low = list(stream_events(w, min_score=0.55))
    assert low == [SoundEvent(0, 5.0, "a", pytest.approx(0.8)), SoundEvent(5.0, 7.0, "b", 0.6)]
    assert list(stream_events([])) == []
    with pytest.raises(ValueError, match="time order"):
        list(stream_events(w[::-1]))


def test_write_events_csv_round_trip_and_atomic(tmp_path):
    events = [SoundEvent(0.0, 2.5, "dog bark", 0.912345678), SoundEvent(2.5, 7.25, "rain", 0.5)]
    out = write_events_csv(events, tmp_path / "sub" / "events.csv")
    assert out == tmp_path / "sub" / "events.csv"
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["start", "end", "label", "score"]
    back = [SoundEvent(float(r["start"]), float(r["end"]), r["label"], float(r["score"]))
            for r in rows]
    assert [e.label for e in back] == ["dog bark", "rain"]
    np.testing.assert_allclose([e[:2] for e in back], [e[:2] for e in events], atol=5e-4)
    np.testing.assert_allclose([e.score for e in back], [e.score for e in events], rtol=1e-5)

    def failing():
        yield SoundEvent(0.0, 1.0, "rain", 0.5)
        raise AudioDecodeError("stream broke")

    with pytest.raises(AudioDecodeError):
        write_events_csv(failing(), tmp_path / "new.csv")
    assert not (tmp_path / "new.csv").exists()
    before = out.read_text()
    with pytest.raises(AudioDecodeError):
        write_events_csv(failing(), out)
    assert out.read_text() == before  # the earlier file untouched
    assert sorted(os.listdir(tmp_path / "sub")) == ["events.csv"]  # no temporary left


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 0}, r"window must be a positive finite number"),
    ({"window": -1.0}, r"window must be a positive"),
    ({"window": float("nan")}, r"window must be a positive"),
    ({"hop": 0}, r"hop must be a positive"),
    ({"window": 0.5, "hop": 0.75}, r"hop must be at most window \(0.5 s\)"),
    ({"window": 2.0}, r"window must be at most the model's AudioLoader duration \(1 s\)"),
    ({"hop": 1e-5}, r"hop must be at least one sample frame"),
    ({"block_seconds": 0}, r"block_seconds must be a positive"),
    ({"batch_windows": 0}, r"batch_windows must be a positive integer"),
    ({"batch_windows": 2.5}, r"batch_windows must be a positive integer"),
    ({"scores": "proba"}, r"scores must be 'auto'"),
    ({"scores": "decision_function", "model": "gaussian_nb"}, r"GaussianNB\) has no decision"),
])
def test_bad_parameters_are_named_at_the_call(band_model, tmp_path, kwargs, match):
    path = tmp_path / "rec.wav"
    _write(path, [("low", 1.5)])
    model = band_model
    if kwargs.pop("model", None):
        model = make_pipeline(*band_model[:-1], GaussianNB()).fit(
            np.random.default_rng(0).standard_normal((6, SR)), [0, 1] * 3)
    with pytest.raises(ValueError, match=match):
        predict_stream(model, path, **kwargs)  # no iteration: checked eagerly


def test_bad_model_file_and_window_for_the_features(margin_model, band_model, tmp_path):
    path = tmp_path / "rec.wav"
    _write(path, [("low", 1.5)])
    with pytest.raises(ValueError, match=r"window must be at least 0\.4.. s.*LogMelPatches"):
        predict_stream(margin_model, path, window=0.3)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        predict_stream(band_model, tmp_path / "missing.wav")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioDecodeError, match=r"garbage\.wav.*sample frame 0"):
        predict_stream(band_model, garbage)
    with pytest.raises(TypeError, match="Pipeline"):
        predict_stream(band_model[-1], path)
    with pytest.raises(TypeError, match="first step of model must be an AudioLoader"):
        predict_stream(make_pipeline(FunctionTransformer(), LogisticRegression()), path)
    unfitted = make_pipeline(AudioLoader(sr=SR, duration=1.0), LogisticRegression())
    with pytest.raises(NotFittedError):
        predict_stream(unfitted, path)
    no_duration = make_pipeline(AudioLoader(sr=SR, duration=None), *band_model[1:])
    with pytest.raises(ValueError, match="window must be given"):
        predict_stream(no_duration, path)


def test_bench_stream_smoke(load_script, tiny_esc10, margin_model, tmp_path, capsys):
    from pathlib import Path

    import joblib

    joblib.dump(margin_model, tmp_path / "model.joblib")
    bench = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "bench_stream.py")
    bench.main(["--model", str(tmp_path / "model.joblib"), "--data", str(tiny_esc10),
                "--fold", "2", "--hours", "0.004", "--out", str(tmp_path / "out"),
                "--threads", "1"])
    out = capsys.readouterr().out
    assert "real-time factor" in out and "frame accuracy" in out and "peak RSS" in out


# ---------------------------------------------------------------------- the command line
def test_cli_stream_prints_and_writes_the_events(margin_model, tmp_path, capsys):
    from sklearn_metricaudio.cli import main
    from sklearn_metricaudio.deploy import save_model

    path = tmp_path / "long.wav"
    _write(path, [("low", 2.5), ("high", 3.0), ("low", 1.5)])
    model = save_model(margin_model, tmp_path / "model.skops")
    out = tmp_path / "events.csv"
    assert main(["predict", str(model), "--stream", str(path), "--events", str(out),
                 "--window", "1.0", "--hop", "0.5"]) == 0
    expected = list(stream_events(predict_stream(margin_model, path, window=1.0, hop=0.5)))
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["label"] for r in rows] == [e.label for e in expected]
    np.testing.assert_allclose([float(r["end"]) for r in rows], [e.end for e in expected])
    printed = capsys.readouterr().out
    assert f"{len(expected)} events" in printed and "events written" in printed
    # files and --stream do not go together; --hop needs --stream
    assert main(["predict", str(model), str(path), "--stream", str(path)]) == 2
    assert main(["predict", str(model), str(path), "--hop", "0.5"]) == 2


def test_cli_stream_keeps_the_events_before_a_truncation(band_model, tmp_path, capsys):
    import joblib

    from sklearn_metricaudio.cli import main

    full = tmp_path / "full.wav"
    _write(full, SEGMENTS[:3])
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 2 * int(4.3 * SR)])
    joblib.dump(band_model, tmp_path / "model.joblib")
    out = tmp_path / "events.csv"
    assert main(["predict", "--trust-pickle", str(tmp_path / "model.joblib"), "--stream",
                 str(cut), "--events", str(out), "--window", "1.0", "--hop", "0.5"]) == 2
    assert "4.300 s" in capsys.readouterr().err
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and float(rows[-1]["end"]) == pytest.approx(4.3)
