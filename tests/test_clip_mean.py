"""ClipMean: each clip's unit mean vector, against NumPy by hand; the joined
embedding + MFCC representation for enrollment as one scikit-learn pipeline."""

import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_metricaudio import (AudioLoader, CentroidClassifier, ClipMean, LogMelPatches,
                                 MarginEmbeddingClassifier, MFCCStats, make_urban_sounds)
from sklearn_metricaudio.deploy import enroll_files


@parametrize_with_checks([ClipMean(), ClipMean(rows="standard")])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _by_hand(X, train, rows):
    """The clip means written out: missing (all-NaN) segments dropped, rows scaled (unit, or
    standardised with the training segments' mean and population std), mean, unit."""
    out = []
    if rows == "standard":
        seg = np.array([s for clip in train for s in clip if not np.isnan(s).all()])
        mu, sd = seg.mean(axis=0), seg.std(axis=0)
        sd[sd < 1e-10] = 1.0   # a constant feature (a channel the ReLU keeps at 0): centred
    for clip in X:
        kept = [s for s in clip if not np.isnan(s).all()]
        scaled = [s / np.sqrt((s ** 2).sum()) if rows == "unit" else (s - mu) / sd
                  for s in kept]
        m = np.mean(scaled, axis=0)
        out.append(m / np.sqrt((m ** 2).sum()))
    return np.array(out)


@pytest.mark.parametrize("rows", ["unit", "standard"])
def test_clip_mean_is_the_unit_mean_of_the_scaled_segments(rows):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(6, 4, 5)) * [1, 10, 100, 0.1, 1] + 3
    train[1, 2] = np.nan   # a silent segment: no embedding
    test = rng.normal(size=(3, 4, 5)) * [1, 10, 100, 0.1, 1] + 3
    test[0, :3] = np.nan
    cm = ClipMean(rows=rows).fit(train)
    np.testing.assert_allclose(cm.transform(test), _by_hand(test, train, rows), rtol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(cm.transform(train), axis=1), 1.0)
    # 2-D input: one segment per clip
    np.testing.assert_allclose(ClipMean(rows=rows).fit(train[:, 0]).transform(test[:, 3]),
                               _by_hand(test[:, 3:], train[:, :1], rows), rtol=1e-10)
    with pytest.raises(ValueError, match="rows"):
        ClipMean(rows="l2").fit(train)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 2 epochs
@pytest.mark.parametrize("layer, rows", [("embedding", "unit"), (9, "standard")])
def test_joined_network_and_mfcc_pipeline_enrolls_from_files(tmp_path, layer, rows):
    """AudioLoader -> FeatureUnion(the network's clip mean: its embedding, or block 9
    standardised, and the standardised MFCC clip mean) -> CentroidClassifier: the joined
    vector is the two unit vectors side by side, so its cosine to another is the mean of the
    two cosines; enroll_files adds a class to it."""
    d = make_urban_sounds(n_per_class=4, n_folds=2, min_duration=1.0, max_duration=1.0,
                          sr=8000, random_state=0)
    waves, y = list(d.data[:24]), np.asarray(d.target_names)[d.target[:24]]
    loader = AudioLoader(sr=8000, duration=1.0)
    logmel = LogMelPatches(sr=8000, n_mels=32, n_fft=256, hop_length=128,
                           segment_seconds=0.5)
    net = MarginEmbeddingClassifier(width=0.25, epochs=2, batch_size=8, random_state=0,
                                    transform_layer=layer)
    mfcc = MFCCStats(sr=8000)
    joined = make_pipeline(
        loader,
        FeatureUnion([("network", make_pipeline(logmel, net, ClipMean(rows=rows))),
                      ("mfcc", make_pipeline(mfcc, ClipMean(rows="standard")))]),
        CentroidClassifier())
    joined.fit(waves, y)
    Z = joined[:-1].transform(waves)
    # by hand, from the fitted network and the raw MFCC statistics
    x = loader.transform(waves)
    emb = joined[1].transformer_list[0][1][1].transform(logmel.transform(x))
    stats = mfcc.transform(x)
    assert emb.shape[-1] == (32 if layer == "embedding" else 128)
    want = np.hstack([_by_hand(emb, emb, rows), _by_hand(stats, stats, "standard")])
    np.testing.assert_allclose(Z, want, rtol=1e-4, atol=1e-5)   # float32 embeddings
    d_emb = emb.shape[-1]
    cos = Z @ Z.T
    halves = (Z[:, :d_emb] @ Z[:, :d_emb].T + Z[:, d_emb:] @ Z[:, d_emb:].T) / 2
    np.testing.assert_allclose(cos / 2, halves, atol=1e-12)   # |Z| = sqrt 2
    # a new class from three files
    t = np.arange(8000) / 8000
    files = []
    for k in range(4):
        files.append(str(tmp_path / f"whistle{k}.wav"))
        sf.write(files[-1], 0.3 * np.sin(2 * np.pi * (2500 + 40 * k) * t), 8000)
    enroll_files(joined, files[:3], "whistle")
    assert "whistle" in list(joined.classes_)
    assert joined.predict(files[3:])[0] == "whistle"
