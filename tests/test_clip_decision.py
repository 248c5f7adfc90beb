"""One clip decision: every path that labels a clip decides it by the same rule.

The rule (``models.centroid.clip_distances``, ``nearest_labels``): the mean distance of a
clip's segments to each class centroid, its silent segments left out (a clip with none
sounding counts all). Paths compared with the fitted margin model's own ``predict``:

- a ``MarginEmbeddingClassifier -> CentroidClassifier`` pipeline (the margin model's
  ``transform`` leaves silent segments NaN, which the centroid classifier reads as missing);
- ``deploy.predict_files`` on the clips written as files;
- ``deploy.predict_stream`` over one recording of the clips end to end, one window per clip;
- the ONNX export (``OnnxClassifier``), when onnxruntime is installed.

The clips are padded with digital silence (half a clip, and one clip all silent), where a
path that averaged over every segment would decide differently (checked below).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import Pipeline, make_pipeline

from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
                                 MarginEmbeddingClassifier)
from sklearn_metricaudio.deploy import predict_files, predict_stream
from _signals import three_class_clips, with_silence

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 8000


def _clips(n_per_class, seed):
    return three_class_clips(n_per_class, seed, sr=SR)


_padded = with_silence


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    X, y = _clips(6, seed=0)
    X[::3, : SR // 2] = 0.0  # silence in training too: it must enter no centroid
    margin = MarginEmbeddingClassifier(width=0.25, epochs=8, batch_size=8,
                                       validation_split=None, random_state=0)
    pipe = make_pipeline(AudioLoader(sr=SR, duration=1.0),
                         LogMelPatches(sr=SR, n_mels=32, segment_seconds=0.25), margin).fit(X, y)
    X_eval = _padded(_clips(3, seed=1)[0])
    return pipe, X, y, X_eval, tmp_path_factory.mktemp("decision")


def test_silence_changes_the_decision_here(decided):
    """With the silent segments counted, scores differ by far more than round-off: the paths
    below are compared where the rule matters. (Whether a label flips too depends on the tiny
    net's round-off, so it is not asserted here; on ESC-10, bench_decision_paths counts 298
    flipped labels of 400 padded clips.)"""
    pipe, _, _, X_eval, _ = decided
    patches = pipe[:-1].transform(X_eval)
    margin = pipe[-1]
    sounding = margin.sounding_segments(patches)
    assert (~sounding).any(axis=1).sum() >= 4 and not sounding[-1].any()
    emb = margin.transform(patches)
    assert np.isnan(emb[~sounding & sounding.any(axis=1, keepdims=True)]).all()
    assert not np.isnan(emb[-1]).any()  # the all-silent clip keeps every segment
    every = copy.deepcopy(margin).set_params(silence_db=None).transform(patches)
    assert not np.isnan(every).any()
    masked = margin.centroid_.mean_distances(emb)
    counted = margin.centroid_.mean_distances(every)
    # above 0.05 on an AMD EPYC, 0.026 on an Intel Xeon (AVX-512, AMX): the tiny net's
    # training differs by CPU; round-off is 1e-6, and the rule left out would give 0
    assert np.abs(counted - masked).max() > 5e-3


def test_centroid_pipeline_fitted_by_scikit_learn_is_the_margin_model(decided):
    pipe, X, y, X_eval, _ = decided
    centroid = CentroidClassifier().fit(pipe.transform(X), y)  # NaN rows: silence, missing
    np.testing.assert_allclose(centroid.centroids_, pipe[-1].centroid_.centroids_, atol=1e-6)
    chained = Pipeline(pipe.steps + [("centroid", centroid)])
    np.testing.assert_array_equal(chained.predict(X_eval), pipe.predict(X_eval))
    np.testing.assert_allclose(chained.decision_function(X_eval),
                               pipe.decision_function(X_eval), atol=1e-6)


def test_files_are_decided_as_the_model_decides(decided):
    pipe, _, _, X_eval, tmp = decided
    files = []
    for i, clip in enumerate(X_eval):
        files.append(str(tmp / f"clip{i}.wav"))
        sf.write(files[-1], clip, SR, subtype="FLOAT")
    got = predict_files(pipe, files, scores="decision_function")
    assert [p.error for p in got] == [None] * len(files)
    np.testing.assert_array_equal([p.label for p in got], pipe.predict(X_eval))
    np.testing.assert_allclose(np.stack([p.scores for p in got]),
                               pipe.decision_function(X_eval), atol=1e-6)


def test_a_stream_of_the_clips_is_decided_window_by_window_as_each_clip(decided):
    pipe, _, _, X_eval, tmp = decided
    path = tmp / "stream.wav"
    sf.write(path, X_eval.reshape(-1), SR, subtype="FLOAT")
    windows = list(predict_stream(pipe, path, window=1.0, hop=1.0,
                                  scores="decision_function"))
    assert len(windows) == len(X_eval)
    np.testing.assert_array_equal([w.label for w in windows], pipe.predict(X_eval))
    np.testing.assert_allclose(np.stack([w.scores for w in windows]),
                               pipe.decision_function(X_eval), atol=1e-6)


@pytest.mark.parametrize("chain", [False, True], ids=["margin", "margin->centroid"])
def test_onnx_export_decides_as_the_model(decided, chain):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed "
                                              "(pip install sklearn_metricaudio[onnx])")
    pytest.importorskip("onnxscript", reason="onnxscript is not installed "
                                             "(pip install sklearn_metricaudio[onnx])")
    from sklearn_metricaudio.deploy.onnx_export import OnnxClassifier, export_onnx

    pipe, X, y, X_eval, tmp = decided
    model = pipe
    if chain:  # the centroids of an enrollment: two classes only, silence left out alike
        keep = y != "noise"
        centroid = CentroidClassifier().fit(pipe.transform(X[keep]), y[keep])
        model = Pipeline(pipe.steps + [("centroid", centroid)])
    onnx = OnnxClassifier(export_onnx(model, tmp / f"model{int(chain)}.onnx"))
    assert onnx.metadata_["silence_db"] == pipe[-1].silence_db
    np.testing.assert_array_equal(onnx.predict(X_eval), model.predict(X_eval))
    ref = model.decision_function(X_eval)
    np.testing.assert_allclose(onnx.decision_function(X_eval), ref, atol=1e-4)
