"""MetricAugmentationSelector: Algorithm 1 of the second paper, as a sampler and a meta-estimator.

The selection logic is checked on hand-built embeddings where the answer is known: a
stand-in metric returns the first two samples of a clip as its embedding, and stand-in
deformations move those two samples inside the clip's own class or into the other one.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, PredefinedSplit
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio.augment import MetricAugmentationSelector
from sklearn_metricaudio.augment.selector import knn_agreement

# class 0 embeds near angle 0, class 1 near 90 degrees; column 2 is a clip id
CENTRES = {0: (1.0, 0.0), 1: (0.0, 1.0)}
N_SAMPLES = 6


def make_clips(n_per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c, (a, b) in CENTRES.items():
        for _ in range(n_per_class):
            x = rng.normal(scale=0.01, size=N_SAMPLES)
            x[0] += a + 0.1 * rng.random()
            x[1] += b + 0.1 * rng.random()
            X.append(x)
            y.append(c)
    X = np.array(X)
    X[:, 2] = np.arange(len(X))  # ids
    return X.astype(np.float32), np.array(y)


class FirstTwo(TransformerMixin, BaseEstimator):
    """Stand-in metric: the embedding is the clip's first two samples; logs what it sees."""

    log = []
    fits = []

    def fit(self, X, y=None):
        FirstTwo.fits.append(len(X))
        self.trained_ids_ = frozenset(np.asarray(X)[:, 2].round().astype(int))
        return self

    def transform(self, X):
        X = np.asarray(X)
        FirstTwo.log.append((self.trained_ids_, frozenset(X[:, 2].round().astype(int))))
        return X[:, :2]


class Move(TransformerMixin, BaseEstimator):
    """Stand-in deformation: variant "stay" jitters the clip inside its class, variant
    "swap" puts it on the other class's centre; the id column is kept."""

    def __init__(self, scale=0.02):
        self.scale = scale

    def fit(self, X=None, y=None):
        return self

    def variants(self):
        return [("move", "stay"), ("move", "swap")]

    calls = []

    def transform(self, X):
        Move.calls.append(len(X))
        X = np.asarray(X, dtype=np.float32)
        stay = X.copy()
        stay[:, 3] += self.scale  # changes the clip, not its embedding
        swap = X.copy()
        swap[:, :2] = swap[:, 1::-1]  # (a, b) -> (b, a): the other class's side
        return np.stack([stay, swap], axis=1)


class Gain(TransformerMixin, BaseEstimator):
    def __init__(self, gains=(0.5, 2.0)):
        self.gains = gains

    def fit(self, X=None, y=None):
        return self

    def variants(self):
        return [("gain", g) for g in self.gains]

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        out = np.stack([X * g for g in self.gains], axis=1)
        out[:, :, 2] = X[:, None, 2]
        return out


def selector(**kw):
    params = dict(metric=FirstTwo(), deformations=[("mv", Move()), ("gain", Gain())],
                  n_splits=4, n_neighbors=5, random_state=0)
    params.update(kw)
    return MetricAugmentationSelector(**params)


# ---------------------------------------------------------------- the kNN vote
@pytest.mark.parametrize("k", [1, 5])
def test_points_inside_their_class_are_accepted_and_inside_another_rejected(k):
    rng = np.random.default_rng(0)
    train = np.vstack([[1, 0] + 0.05 * rng.random((10, 2)), [0, 1] + 0.05 * rng.random((10, 2))])
    labels = np.repeat(["a", "b"], 10)
    query = np.array([[1, 0.02], [0.02, 1], [1, 0.02], [0.02, 1]])
    accept, pred = knn_agreement(train, labels, query, ["a", "b", "b", "a"], n_neighbors=k)
    assert accept.tolist() == [True, True, False, False]
    assert pred.tolist() == ["a", "b", "a", "b"]


def test_vote_ties_go_to_the_more_similar_voters_then_to_the_first_label():
    train = np.array([[1.0, 0.0], [0.0, 1.0]])
    # k = 2: one vote each; the query is nearer "b"
    _, pred = knn_agreement(train, ["a", "b"], [[0.3, 1.0]], ["a"], n_neighbors=2)
    assert pred.tolist() == ["b"]
    # exactly between the two: equal votes and similarities, the first label wins
    _, pred = knn_agreement(train, ["b", "a"], [[1.0, 1.0]], ["a"], n_neighbors=2)
    assert pred.tolist() == ["a"]
    # k = 3, votes 2 : 1 where the single voter is the nearest: the majority wins
    train = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    _, pred = knn_agreement(train, ["a", "b", "b"], [[1.0, 0.05]], ["a"], n_neighbors=3)
    assert pred.tolist() == ["b"]


def test_similarity_is_cosine_not_euclidean():
    # the far point along the query's direction is its nearest neighbour by angle
    train = np.array([[10.0, 0.0], [0.5, 0.5]])
    _, pred = knn_agreement(train, ["far", "near"], [[1.0, 0.05]], ["far"], n_neighbors=1)
    assert pred.tolist() == ["far"]


# ---------------------------------------------------------------- fit_resample
@pytest.mark.parametrize("k", [1, 5])
def test_deformations_inside_the_class_are_kept_and_moved_ones_dropped(k):
    X, y = make_clips()
    sel = selector(n_neighbors=k)
    X_res, y_res = sel.fit_resample(X, y)
    names = sel.variant_names_
    assert names == ["mv(stay)", "mv(swap)", "gain(0.5)", "gain(2.0)"]
    assert list(sel.variant_deformations_) == ["mv", "mv", "gain", "gain"]
    # stay and gains keep the direction: all accepted; swap lands in the other class: none
    np.testing.assert_array_equal(sel.acceptance_, [[1, 0, 1, 1], [1, 0, 1, 1]])
    np.testing.assert_array_equal(sel.acceptance_by_deformation_, [[0.5, 1], [0.5, 1]])
    assert sel.acceptance_ratio_ == 0.75
    np.testing.assert_array_equal(sel.acceptance_by_class_, [0.75, 0.75])
    assert X_res.shape == (len(X) * 4, N_SAMPLES)
    table = sel.acceptance_table()
    assert table.columns == ["mv", "gain"] and table.rows == [0, 1]


def test_originals_come_first_unchanged_and_every_kept_clip_once_with_its_label():
    X, y = make_clips()
    sel = selector()
    X_res, y_res = sel.fit_resample(X, y)
    n = len(X)
    np.testing.assert_array_equal(X_res[:n], X)
    np.testing.assert_array_equal(y_res[:n], y)
    pairs = list(zip(sel.sample_indices_, sel.sample_variants_))
    assert len(set(pairs)) == len(pairs) == len(X_res) - n
    np.testing.assert_array_equal(y_res[n:], y[sel.sample_indices_])
    # each kept clip is the deformation it claims to be, of the clip it claims
    all_variants = np.concatenate([Move().transform(X), Gain().transform(X)], axis=1)
    np.testing.assert_array_equal(X_res[n:], all_variants[sel.sample_indices_,
                                                          sel.sample_variants_])
    assert X_res.dtype == X.dtype


def test_same_random_state_same_output_and_partitions_stratified():
    from sklearn_metricaudio.augment import BackgroundNoise

    X, y = make_clips()
    noise = ("bg", BackgroundNoise([np.random.default_rng(1).normal(size=100_000)], sr=100,
                                   snr_db=20.0))
    deformations = [("mv", Move()), noise]
    a, b, c = (selector(random_state=rs, deformations=deformations) for rs in (3, 3, 4))
    out_a, out_b, out_c = (s.fit_resample(X, y)[0] for s in (a, b, c))
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(a.partitions_, b.partitions_)
    assert not np.array_equal(a.partitions_, c.partitions_)
    assert not np.array_equal(out_a, out_c)  # other partitions, other background offsets
    for p in range(4):  # 8 clips per class over 4 partitions: 2 of each class in each
        assert np.bincount(y[a.partitions_ == p]).tolist() == [2, 2]
    # the background offsets run on from partition to partition: no two kept noisy copies
    # of different clips carry the same noise
    noisy = out_a[len(X):][a.sample_variants_ == 2] - X[a.sample_indices_[a.sample_variants_ == 2]]
    noise_shape = noisy[:, 3:] / np.linalg.norm(noisy[:, 3:], axis=1, keepdims=True)
    assert len(np.unique(noise_shape.round(5), axis=0)) == len(noisy)


def test_no_clip_is_judged_by_a_metric_that_saw_it():
    X, y = make_clips()
    FirstTwo.log.clear()
    selector(n_splits=4).fit_resample(X, y)
    judged = [(trained, seen) for trained, seen in FirstTwo.log if trained != seen]
    # 4 partitions x 2 deformations, each embedding the held-out partition's clips
    assert len(judged) == 8
    for trained, seen in judged:
        assert not trained & seen
    assert set().union(*(seen for _, seen in judged)) == set(range(len(X)))


def test_groups_are_the_partitions():
    X, y = make_clips()
    groups = np.tile([10, 20, 30, 40], 4)
    sel = selector(n_splits=2)  # n_splits is ignored when groups are given
    sel.fit_resample(X, y, groups=groups)
    np.testing.assert_array_equal(sel.partitions_, np.tile([0, 1, 2, 3], 4))


def test_memory_caches_the_metric_and_the_deformed_clips(tmp_path):
    X, y = make_clips()
    FirstTwo.fits.clear()
    Move.calls.clear()
    a = selector(memory=str(tmp_path)).fit_resample(X, y)
    assert len(FirstTwo.fits) == 4 and len(Move.calls) == 4
    b = selector(memory=str(tmp_path)).fit_resample(X, y)
    np.testing.assert_array_equal(a[0], b[0])
    # the second run fits no metric and deforms nothing: both come from the cache
    assert len(FirstTwo.fits) == 4 and len(Move.calls) == 4
    # another setting of a deformation invalidates its deformed clips, not the metrics
    selector(memory=str(tmp_path), deformations=[("mv", Move(scale=0.5)), ("gain", Gain())]
             ).fit_resample(X, y)
    assert len(FirstTwo.fits) == 4 and len(Move.calls) == 8


# ---------------------------------------------------------------- bad input
def test_bad_input_gets_a_clear_error():
    X, y = make_clips()
    with pytest.raises(ValueError, match="n_neighbors=20 is larger than the smallest training"):
        selector(n_neighbors=20, n_splits=2).fit_resample(X, y)
    with pytest.raises(ValueError, match="y holds 1 class"):
        selector().fit_resample(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="deformations is empty"):
        selector(deformations=[]).fit_resample(X, y)
    with pytest.raises(ValueError, match="n_splits=40 is larger"):
        selector(n_splits=40).fit_resample(X, y)
    with pytest.raises(ValueError, match="single partition"):
        selector().fit_resample(X, y, groups=np.zeros(len(X)))
    with pytest.raises(ValueError, match="takes waveforms, got file names"):
        selector().fit_resample(["a.wav", "b.wav"], [0, 1])
    with pytest.raises(ValueError, match="n_neighbors"):
        selector(n_neighbors=0).fit_resample(X, y)
    with pytest.raises(ValueError, match="y holds 3 labels for 16 clips"):
        selector().fit_resample(X, [0, 1, 0])
    with pytest.raises(TypeError, match="must have transform"):
        selector(deformations=[("x", LogisticRegression())]).fit_resample(X, y)
    with pytest.raises(ValueError, match="fit needs estimator"):
        selector().fit(X, y)


# ---------------------------------------------------------------- composition
class Flatten(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X)[:, :2]


def meta(**kw):
    return selector(estimator=make_pipeline(Flatten(), LogisticRegression()), **kw)


def test_meta_estimator_fits_on_the_resampled_clips_and_delegates():
    X, y = make_clips()
    model = meta().fit(X, y)
    assert model.estimator_[-1].n_features_in_ == 2
    np.testing.assert_array_equal(model.predict(X), model.estimator_.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), model.estimator_.predict_proba(X))
    np.testing.assert_allclose(model.decision_function(X),
                               model.estimator_.decision_function(X))
    assert model.score(X, y) == 1.0
    assert not hasattr(selector(), "predict")  # nothing to delegate to
    assert not hasattr(meta(), "transform")     # LogisticRegression has no transform


def test_meta_estimator_in_a_plain_pipeline_cross_validates_grid_searches_and_pickles():
    from sklearn.base import is_classifier

    X, y = make_clips()
    folds = np.tile([0, 1], len(X) // 2)
    pipe = make_pipeline(meta(n_splits=2, n_neighbors=1))
    assert is_classifier(pipe[-1])
    scores = cross_val_score(pipe, X, y, cv=PredefinedSplit(folds))
    assert scores.tolist() == [1.0, 1.0]
    search = GridSearchCV(pipe, {"metricaugmentationselector__n_neighbors": [1, 3]},
                          cv=PredefinedSplit(folds)).fit(X, y)
    assert search.best_params_["metricaugmentationselector__n_neighbors"] in (1, 3)
    loaded = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(loaded.predict(X), search.predict(X))
    # partitions routed to the selector as a fit parameter of the pipeline
    pipe.fit(X, y, metricaugmentationselector__groups=np.tile([0, 1, 2, 3], 4))
    np.testing.assert_array_equal(pipe[-1].partitions_, np.tile([0, 1, 2, 3], 4))


class RecordsFit(LogisticRegression):
    def fit(self, X, y, sample_weight=None, groups=None):
        self.seen_ = dict(sample_weight=sample_weight, groups=groups, n=len(X))
        return super().fit(np.asarray(X)[:, :2], y, sample_weight=sample_weight)

    def predict(self, X):
        return super().predict(np.asarray(X)[:, :2])


def test_meta_estimator_extends_sample_weights_and_groups_to_the_kept_copies():
    X, y = make_clips()
    weights = np.arange(len(X), dtype=float)
    model = selector(estimator=RecordsFit()).fit(X, y, sample_weight=weights)
    seen, src = model.estimator_.seen_, model.sample_indices_
    assert seen["n"] == len(X) + src.size
    np.testing.assert_array_equal(seen["sample_weight"], np.concatenate([weights, weights[src]]))
    # a clip and its kept copies form one group (for an inner validation split)
    np.testing.assert_array_equal(seen["groups"], np.concatenate([np.arange(len(X)), src]))
    # the same through a Pipeline's last step
    model = selector(estimator=make_pipeline(Flatten(), RecordsFit())).fit(X, y)
    assert model.estimator_[-1].seen_["groups"].size == len(X) + model.sample_indices_.size


def test_sampler_in_an_imblearn_pipeline():
    imblearn_pipeline = pytest.importorskip("imblearn.pipeline", reason="imbalanced-learn "
                                            "is an optional extra")
    X, y = make_clips()
    pipe = imblearn_pipeline.make_pipeline(selector(), Flatten(), LogisticRegression())
    pipe.fit(X, y)
    # the classifier saw the resampled clips, prediction sees the clips themselves
    assert pipe[-1].n_features_in_ == 2
    assert pipe.score(X, y) == 1.0
    assert pipe[0].sample_indices_.size == 3 * len(X)
    clone(pipe).fit(X, y)


def test_real_deformations_and_margin_model_in_a_plain_pipeline():
    """The issue's pipeline at tiny settings: AudioLoader -> selector(estimator=log-mel +
    MarginEmbeddingClassifier + CentroidClassifier), with real deformations."""
    from sklearn_metricaudio import (AudioLoader, CentroidClassifier, LogMelPatches,
                                     MarginEmbeddingClassifier)
    from sklearn_metricaudio.augment import DynamicRangeCompression, PitchShift

    sr = 8000
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    X = np.array([0.3 * np.sin(2 * np.pi * (500 if c else 1500) * t * (1 + 0.02 * i))
                  + 0.01 * rng.normal(size=sr) for c in (0, 1) for i in range(6)],
                 dtype=np.float32)
    y = np.repeat(["low", "high"], 6)

    def tiny_margin(loss):
        return MarginEmbeddingClassifier(loss=loss, width=0.25, embedding_dim=8, epochs=2,
                                         batch_size=8, validation_split=None, random_state=0)

    feats = dict(sr=sr, n_mels=16, segment_seconds=0.25)
    sel = MetricAugmentationSelector(
        make_pipeline(LogMelPatches(**feats), tiny_margin("cosface"), CentroidClassifier()),
        metric=make_pipeline(LogMelPatches(**feats), tiny_margin("npair")),
        deformations=[("PS", PitchShift(semitones=(-1.0, 1.0), sr=sr)),
                      ("DRC", DynamicRangeCompression(presets=("radio",), sr=sr))],
        n_splits=2, n_neighbors=3, sr=sr, random_state=0)
    pipe = make_pipeline(AudioLoader(sr=sr, duration=1.0), sel).fit(list(X), y)
    assert pipe.predict(list(X)).shape == (12,)
    assert pipe[-1].variant_names_ == ["PS(-1.0)", "PS(1.0)", "DRC(radio)"]
    assert 0 <= pipe[-1].acceptance_ratio_ <= 1
    n_kept = pipe[-1].sample_indices_.size
    # the classifier trained on the originals and the kept deformed clips
    assert pipe[-1].estimator_[1].validation_mask_.size == 12 + n_kept
    loaded = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(loaded.predict(list(X)), pipe.predict(list(X)))
    assert n_kept <= 12 * 3


def test_a_cached_run_gives_what_an_uncached_one_gave(tmp_path):
    from sklearn_metricaudio.augment import BackgroundNoise

    X, y = make_clips()
    noise = ("bg", BackgroundNoise([np.random.default_rng(1).normal(size=100_000)], sr=100))
    deformations = [("mv", Move()), noise]
    plain = selector(deformations=deformations).fit_resample(X, y)[0]
    first = selector(deformations=deformations, memory=str(tmp_path)).fit_resample(X, y)[0]
    again = selector(deformations=deformations, memory=str(tmp_path)).fit_resample(X, y)[0]
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(again, plain)
