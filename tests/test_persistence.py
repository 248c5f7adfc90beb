"""deploy.save_model / load_model: identical predictions after a round trip, and no code of
the file is run on load (a crafted pickle, a crafted skops type, crafted weights)."""

import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from sklearn_metricaudio import (AudioLoader, CentroidClassifier, GaussianMixtureClassifier,
                                 LogMelPatches, MarginEmbeddingClassifier, MFCCStats)
from sklearn_metricaudio.cli import main
from sklearn_metricaudio.deploy import UntrustedModelError, load_model, save_model

SR = 8000
pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Payload:
    """Unpickling it writes a marker file: the proof that a file's code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))

    def __setstate__(self, state):  # what skops would call on an object it rebuilt
        open(state["marker"], "w").close()


def _clips(n_per_class=4, seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    X = [0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(t.size)
         for f in (300, 1500) for _ in range(n_per_class)]
    return np.asarray(X, dtype=np.float32), np.repeat(["low", "high"], n_per_class)


@pytest.fixture(scope="module")
def fitted(one_torch_thread):
    X, y = _clips()
    pipe = make_pipeline(
        AudioLoader(sr=SR, duration=1.0),
        LogMelPatches(sr=SR, n_mels=32, n_fft=256, hop_length=64, segment_seconds=0.25),
        MarginEmbeddingClassifier(width=0.25, epochs=2, batch_size=8, validation_split=None,
                                  random_state=0),
        CentroidClassifier())
    pipe.fit(X, y)
    return pipe, X, y


def test_round_trip_gives_identical_predictions(fitted, tmp_path):
    pipe, X, _ = fitted
    X_new, _ = _clips(seed=1)
    path = save_model(pipe, tmp_path / "model.skops")
    assert zipfile.is_zipfile(path)
    loaded = load_model(path)
    assert loaded is not pipe
    np.testing.assert_array_equal(loaded.predict(X_new), pipe.predict(X_new))
    np.testing.assert_array_equal(loaded.decision_function(X_new), pipe.decision_function(X_new))
    np.testing.assert_array_equal(loaded[:-1].transform(X_new), pipe[:-1].transform(X_new))
    # the original keeps its network, and its weights were not moved
    assert pipe[2].net_ is not None and loaded[2].net_ is not pipe[2].net_
    # the weights travel as tensors, not as a pickled module
    with zipfile.ZipFile(path) as zf:
        state = torch.load(io.BytesIO(zf.read("nets/0.pt")), weights_only=True)
    assert set(state) == {"n_mels", "n_frames", "module", "criterion"}
    assert all(isinstance(v, torch.Tensor) for v in state["module"].values())


def test_a_model_saved_for_cuda_predicts_on_the_cpu(fitted, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only machine a GPU-fitted model is deployed to")
    pipe, X, _ = fitted
    margin = pipe[2]
    margin.device = "cuda"  # as fitted on a GPU (the weights are saved from the CPU anyway)
    try:
        path = save_model(pipe, tmp_path / "cuda.skops")
    finally:
        margin.device = "cpu"
    with pytest.warns(UserWarning, match="CUDA.*CPU"):
        loaded = load_model(path)
    assert loaded[2].device == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    # device= sets every torch step
    loaded = load_model(path, device="cpu")
    assert loaded[1].device == loaded[2].device == "cpu"


def test_a_crafted_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.joblib"
    joblib.dump(Payload(marker), path)
    with pytest.raises(UntrustedModelError, match="pickle.*arbitrary code"):
        load_model(path)
    assert not marker.exists()
    joblib.dump(Payload(marker), tmp_path / "model.gz", compress=3)
    with pytest.raises(UntrustedModelError, match="pickle"):
        load_model(tmp_path / "model.gz")
    assert not marker.exists()
    # the command line refuses it too, and says how to load one's own pickle
    for f in (path, tmp_path / "model.gz"):
        assert main(["predict", str(f), "x.wav"]) == 2
    assert not marker.exists()


def test_cli_refuses_a_pickle_without_trust_pickle(fitted, tmp_path, capsys):
    import soundfile as sf

    pipe, X, _ = fitted
    sf.write(tmp_path / "a.wav", X[0], SR)
    joblib.dump(pipe, tmp_path / "model.joblib")
    assert main(["predict", str(tmp_path / "model.joblib"), str(tmp_path / "a.wav")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    assert main(["predict", "--trust-pickle", str(tmp_path / "model.joblib"),
                 str(tmp_path / "a.wav")]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] == pipe.predict(X[:1])[0]
    save_model(pipe, tmp_path / "model.skops")
    assert main(["predict", str(tmp_path / "model.skops"), str(tmp_path / "a.wav")]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] == pipe.predict(X[:1])[0]


def _archive(path, skops_bytes, nets=()):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metricaudio.json", json.dumps({"format": 1, "library": "0",
                                                    "nets": [n for n, _ in nets]}))
        zf.writestr("model.skops", skops_bytes)
        for name, data in nets:
            zf.writestr(name, data)
    return path


def test_an_untrusted_type_is_refused_and_not_built(tmp_path):
    import skops.io as sio

    marker = tmp_path / "ran"
    path = _archive(tmp_path / "bad.skops", sio.dumps({"x": Payload(marker)}))
    with pytest.raises(UntrustedModelError, match="Payload"):
        load_model(path)
    assert not marker.exists()
    # trusting it is the caller's decision; then the object is built
    load_model(path, trusted=[f"{__name__}.Payload"])
    assert marker.exists()


def test_crafted_weights_are_refused_and_not_run(fitted, tmp_path):
    import skops.io as sio

    pipe, _, _ = fitted
    good = save_model(pipe, tmp_path / "good.skops")
    with zipfile.ZipFile(good) as zf:
        skops_bytes = zf.read("model.skops")
    marker = tmp_path / "ran"
    path = _archive(tmp_path / "bad.skops", skops_bytes,
                    [("nets/0.pt", pickle.dumps(Payload(marker)))])
    with pytest.raises(UntrustedModelError, match="nets/0.pt"):
        load_model(path)
    assert not marker.exists()
    assert sio.get_untrusted_types(data=skops_bytes)  # our types: trusted by load_model only


def test_bad_files_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.skops"):
        load_model(tmp_path / "nope.skops")
    (tmp_path / "text.skops").write_text("hello")
    with pytest.raises(ValueError, match="not a model file"):
        load_model(tmp_path / "text.skops")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(ValueError, match="lacks"):
        load_model(tmp_path / "other.zip")


def _with_manifest(tmp_path, name, manifest_text, members=()):
    import skops.io as sio

    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metricaudio.json", manifest_text)
        zf.writestr("model.skops", sio.dumps(CentroidClassifier().fit([[1.0, 0.0], [0.0, 1.0]],
                                                                      ["a", "b"])))
        for member in members:
            zf.writestr(member, b"")
    return path


@pytest.mark.parametrize("manifest", [
    "[]", '"a string"', "{}", '{"format": 1}', '{"format": "1", "nets": []}',
    '{"format": 1, "nets": "nets/0.pt"}', '{"format": 1, "nets": ["nets/0.pt"]}',
    '{"format": 1, "nets": [0]}', '{"format": 1, "nets": ["model.skops"]}', "not json",
    '{"format": true, "nets": []}'])
def test_a_damaged_manifest_is_refused_with_a_clear_error(tmp_path, manifest, capsys):
    path = _with_manifest(tmp_path, "damaged.skops", manifest)
    with pytest.raises(ValueError, match=r"damaged: its metricaudio.json should be a JSON "
                                         r"object with 'format'"):
        load_model(path)
    # through the shell: one line and exit status 2, not a traceback
    assert main(["predict", str(path), "a.wav"]) == 2
    assert "damaged" in capsys.readouterr().err


def test_a_well_formed_manifest_of_a_newer_format_asks_for_an_upgrade(tmp_path):
    path = _with_manifest(tmp_path, "new.skops", '{"format": 99, "nets": []}')
    with pytest.raises(ValueError, match="format 99, newer .* upgrade"):
        load_model(path)
    ok = _with_manifest(tmp_path, "ok.skops", '{"format": 1, "nets": []}')
    assert load_model(ok).predict([[0.9, 0.1]]).tolist() == ["a"]


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path):
    import tracemalloc

    path = _with_manifest(tmp_path, "bomb.skops", '{"format": 1, "nets": ["nets/0.pt"]}')
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("nets/0.pt", bytes(64 << 20))  # 64 MB of zeros: 64 kB in the file
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"would unpack to \d+ bytes, more than "
                                             r"max_bytes=16777216"):
            load_model(path, max_bytes=16 << 20)
        assert tracemalloc.get_traced_memory()[1] < 4 << 20   # nothing was inflated
    finally:
        tracemalloc.stop()
    # a damaged member (its CRC no longer matches) is refused as damaged, not a crash
    raw = bytearray(_with_manifest(tmp_path, "crc.skops", '{"format": 1, "nets": []}')
                    .read_bytes())
    at = raw.index(b"model.skops") + len("model.skops") + 40  # inside the member's data
    raw[at] ^= 0xFF
    (tmp_path / "crc.skops").write_bytes(bytes(raw))
    with pytest.raises((ValueError, UntrustedModelError), match="crc.skops"):
        load_model(tmp_path / "crc.skops")


def test_only_the_public_estimators_of_the_library_and_sklearn_are_trusted(tmp_path):
    """The trust list is the top-level package's estimators: not every type of the library
    (its callbacks, its named tuples) and not torch's."""
    import skops.io as sio
    import sklearn_metricaudio as top
    from sklearn_metricaudio.deploy.streaming import SoundEvent
    from sklearn_metricaudio.models._training import SphereFaceAnnealing

    for k, obj in enumerate([SphereFaceAnnealing(), SoundEvent(0.0, 1.0, "a", 0.5),
                             torch.device("cpu"), torch.nn.Identity()]):
        path = _archive(tmp_path / f"x{k}.skops", sio.dumps({"x": obj}))
        with pytest.raises(UntrustedModelError, match=type(obj).__name__):
            load_model(path)
    # every public estimator of the library loads without being named
    estimators = [getattr(top, n) for n in top.__all__]
    estimators = [t for t in estimators if isinstance(t, type) and hasattr(t, "get_params")]
    assert len(estimators) >= 10
    for t in estimators:
        if t.__name__ == "BackgroundNoise":
            obj = t([np.zeros(4)])
        elif t.__name__ in ("MetricAugmentationSelector",):
            obj = t(CentroidClassifier())
        else:
            obj = t()
        path = _archive(tmp_path / f"{t.__name__}.skops", sio.dumps(obj))
        assert type(load_model(path)) is t


def test_a_failed_save_leaves_the_earlier_file(tmp_path, monkeypatch):
    import skops.io as sio

    clf = CentroidClassifier().fit([[1.0, 0.0], [0.0, 1.0]], ["a", "b"])
    path = save_model(clf, tmp_path / "m.skops")
    before = path.read_bytes()

    def fail(obj):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sio, "dumps", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        save_model(CentroidClassifier().fit([[0.0, 1.0], [1.0, 0.0]], ["a", "b"]), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skops"]


def test_baseline_pipelines_round_trip(tmp_path):
    X, y = _clips(n_per_class=3)
    pipe = make_pipeline(AudioLoader(sr=SR, duration=1.0), MFCCStats(sr=SR),
                         GaussianMixtureClassifier(n_components=1, random_state=0)).fit(X, y)
    loaded = load_model(save_model(pipe, tmp_path / "gmm.skops"))
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("layer", [9, ("embedding", 9)])
def test_a_block_rejection_survives_the_round_trip(fitted, tmp_path, layer):
    """rejection_layer=9 or ("embedding", 9): the block centroids, their scaler, the scales
    and the threshold travel in the safe file; the loaded model scores and rejects as the
    saved one."""
    from sklearn.base import clone

    pipe, X, y = fitted
    margin = clone(pipe[:-1]).set_params(marginembeddingclassifier__rejection_layer=layer,
                                         marginembeddingclassifier__validation_split=0.25)
    margin.fit(X, y)
    margin[-1].calibrate(margin[:-1].transform(X), true_accept=0.5)
    loaded = load_model(save_model(margin, tmp_path / "b.skops"))
    assert loaded[-1].rejection_block_ == 9 and loaded[-1].rejection_layer == layer
    assert loaded[-1]._rejection_threshold() == margin[-1]._rejection_threshold() is not None
    if isinstance(layer, tuple):
        np.testing.assert_array_equal(loaded[-1].rejection_scale_, margin[-1].rejection_scale_)
    np.testing.assert_array_equal(loaded.score_samples(X), margin.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), margin.predict(X))
    assert -1 in margin.predict(X).tolist() or "unknown" in margin.predict(X).tolist()


def test_open_set_threshold_survives_the_round_trip(fitted, tmp_path):
    pipe, X, y = fitted
    clf = CentroidClassifier(unknown_label="none").fit(pipe[:-1].transform(X), y)
    clf.calibrate(pipe[:-1].transform(X), true_accept=0.5)
    loaded = load_model(save_model(clf, tmp_path / "c.skops"))
    assert loaded.threshold_ == clf.threshold_
    emb = pipe[:-1].transform(X)
    np.testing.assert_array_equal(loaded.predict(emb), clf.predict(emb))
    assert "none" in clf.predict(emb).tolist()
