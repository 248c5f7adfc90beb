"""`deploy.calibrate_files`: a fitted pipeline's open-set rejection calibrated from held-out
audio files, as its last step's `calibrate` on what its front end makes of them."""

import copy

import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio import (AudioLoader, CentroidClassifier, ClipMean,
                                 LogMelPatches, MarginEmbeddingClassifier, MFCCStats)
from sklearn_metricaudio._io import AudioDecodeError
from sklearn_metricaudio.deploy import calibrate_files
from sklearn_metricaudio.deploy.calibrate import _true_accept_of
from sklearn_metricaudio.evaluation import paper_models

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 8000


def _tone(path, freq, rng, seconds=1.0):
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size),
             SR)
    return str(path)


@pytest.fixture
def tones(tmp_path):
    """3 classes x 6 one-second tones (an octave apart, each clip a little detuned): 4 of
    each to train on, 2 held out; and 3 whistles, far above every class."""
    rng = np.random.default_rng(0)
    train, held, y_train, y_held = [], [], [], []
    for name, freq in [("fan", 220), ("motor", 440), ("pump", 880)]:
        for k in range(6):
            path = _tone(tmp_path / f"{name}{k}.wav", freq * (1 + 0.01 * k), rng)
            (train if k < 4 else held).append(path)
            (y_train if k < 4 else y_held).append(name)
    whistles = [_tone(tmp_path / f"whistle{k}.wav", 3000 + 40 * k, rng) for k in range(3)]
    return train, np.array(y_train), held, np.array(y_held), whistles


def _mfcc_centroids(train, y):
    """MFCC statistics, one standardised unit vector per clip, nearest class centroid: no
    training to wait for, and tones an octave apart far from each other and from whistles."""
    return make_pipeline(AudioLoader(sr=SR, duration=1.0), MFCCStats(sr=SR),
                         ClipMean(rows="standard"), CentroidClassifier()).fit(train, y)


def test_calibrate_files_rejects_a_clearly_other_sound_and_keeps_the_known_ones(tones):
    train, y_train, held, y_held, whistles = tones
    model = _mfcc_centroids(train, y_train)
    assert set(model.predict(whistles)) <= set(model.classes_)   # closed set: never unknown
    by_hand = copy.deepcopy(model)
    assert calibrate_files(model, held, true_accept=1.0) is model   # in place
    by_hand[-1].calibrate(by_hand[:-1].transform(held), true_accept=1.0)
    assert model[-1].threshold_ == by_hand[-1].threshold_
    # every held-out clip of a known class accepted (true_accept=1) and labelled as before,
    # every whistle beyond the threshold
    np.testing.assert_array_equal(model.predict(held), y_held)
    assert list(model.predict(whistles)) == ["unknown"] * 3


def test_calibrate_files_threshold_is_the_quantile_of_the_files_distances(tones):
    """The threshold by hand: the clips' cosine distances to the nearest class centroid
    (numpy on the front end's vectors and the centroids), their "higher" quantile."""
    train, y_train, held, _, _ = tones
    model = calibrate_files(_mfcc_centroids(train, y_train), held, true_accept=0.5)
    X = model[:-1].transform(held)
    u = X / np.linalg.norm(X, axis=1, keepdims=True)
    c = model[-1].centroids_ / np.linalg.norm(model[-1].centroids_, axis=1, keepdims=True)
    nearest = np.sort((1 - u @ c.T).min(axis=1))
    assert model[-1].threshold_ == pytest.approx(nearest[3], rel=1e-9)   # 0.5 of 6: the 4th
    assert (model.predict(held) == "unknown").sum() == 2


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 2 epochs
@pytest.mark.parametrize("layer, threshold", [
    ("embedding", lambda clf: clf.centroid_.threshold_),
    (9, lambda clf: clf.rejection_[-1].threshold_),
    (("embedding", 9), lambda clf: clf.rejection_threshold_),
])
def test_calibrate_files_on_the_metric_model_is_its_calibrate_on_the_front_end(
        tones, layer, threshold):
    """On the distance its rejection_layer names, and with the true_accept given."""
    train, y_train, held, _, whistles = tones
    model = make_pipeline(
        AudioLoader(sr=SR, duration=1.0),
        LogMelPatches(sr=SR, n_mels=32, n_fft=256, hop_length=128),
        MarginEmbeddingClassifier(width=0.25, epochs=2, validation_split=0.25,
                                  rejection_layer=layer, random_state=0)).fit(train, y_train)
    by_hand = copy.deepcopy(model)
    calibrate_files(model, held, true_accept=0.7)
    by_hand[-1].calibrate(by_hand[:-1].transform(held), true_accept=0.7)
    assert threshold(model[-1]) == threshold(by_hand[-1])
    # the "higher" 0.7 quantile of the 6 clips' open-set distances: the 5th smallest
    distance = np.sort(-model.score_samples(held))
    assert threshold(model[-1]) == pytest.approx(distance[4], rel=1e-9)
    np.testing.assert_array_equal(model.predict(held + whistles),
                                  by_hand.predict(held + whistles))
    # the share accepted that `metricaudio calibrate` prints without predicting again
    assert _true_accept_of(model[-1]) == np.mean(model.predict(held) != "unknown") == 5 / 6


def test_calibrate_files_refuses_a_model_that_cannot_reject(tones):
    train, y_train, held, _, _ = tones
    svm = paper_models("svm")["svm"].estimator
    model = make_pipeline(AudioLoader(sr=SR, duration=1.0), MFCCStats(sr=SR), svm)
    model.fit(train, y_train)
    with pytest.raises(TypeError, match="cannot reject unknown sounds.*"
                                        "SegmentAggregateClassifier"):
        calibrate_files(model, held)
    with pytest.raises(TypeError, match="Pipeline"):
        calibrate_files(model[-1], held)   # not a pipeline from files


@pytest.mark.parametrize("true_accept", [0, -0.1, 1.5, float("nan"), True, "0.9"])
def test_calibrate_files_checks_true_accept_before_reading_a_file(tones, tmp_path,
                                                                 true_accept):
    train, y_train, held, _, _ = tones
    model = _mfcc_centroids(train, y_train)
    with pytest.raises(ValueError, match=r"true_accept must be a share in \(0, 1\]"):
        calibrate_files(model, held, true_accept=true_accept)
    with pytest.raises(ValueError, match="true_accept"):   # not FileNotFoundError
        calibrate_files(model, [str(tmp_path / "nowhere.wav")], true_accept=true_accept)
    assert not hasattr(model[-1], "threshold_")


def test_calibrate_files_needs_files_and_names_one_it_cannot_read(tones, tmp_path):
    train, y_train, held, _, _ = tones
    model = _mfcc_centroids(train, y_train)
    with pytest.raises(ValueError, match="no files to calibrate on"):
        calibrate_files(model, [])
    missing = str(tmp_path / "nowhere.wav")
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        calibrate_files(model, held[:3] + [missing])
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    with pytest.raises(AudioDecodeError, match="notes.txt"):
        calibrate_files(model, [*held, str(notes)])
    # no threshold from part of the files
    assert not hasattr(model[-1], "threshold_")
    assert set(model.predict(held)) <= set(model.classes_)
