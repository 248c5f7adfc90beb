"""Users' own recordings from the shell: `metricaudio fit` on a folder per class, `metricaudio
enroll`, `metricaudio predict` on what they saved; the library calls underneath."""

import numpy as np
import pytest
import soundfile as sf

from sklearn_metricaudio.cli import main
from sklearn_metricaudio.datasets import load_dataset
from sklearn_metricaudio.deploy import calibrate_files, enroll_files, load_model
from sklearn_metricaudio.evaluation import compute_features, fit_pipeline, paper_models

SR = 8000
TINY = ["--epochs", "3", "--width", "0.25", "--preset", "fast", "--no-cache", "--n-jobs", "1"]


def _tone(path, freq, rng, seconds=1.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
    sf.write(path, x, sr)
    return str(path)


@pytest.fixture
def own_folder(tmp_path):
    """A folder per class, as a user lays out their recordings: 3 classes x 5 one-second
    clips (tones an octave apart, each clip a little detuned), plus 4 whistles outside it."""
    rng = np.random.default_rng(0)
    root = tmp_path / "my_sounds"
    for name, freq in [("fan", 220), ("motor", 440), ("pump", 880)]:
        (root / name).mkdir(parents=True)
        for k in range(5):
            _tone(root / name / f"{name}{k}.wav", freq * (1 + 0.01 * k), rng)
    whistles = [_tone(tmp_path / f"whistle{k}.wav", 3000 + 40 * k, rng) for k in range(4)]
    return root, whistles


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 3 epochs
def test_fit_pipeline_predicts_from_files_what_its_estimator_predicts_from_the_features(
        own_folder):
    root, _ = own_folder
    data = load_dataset(root, )
    model = paper_models("cosface", preset="fast", epochs=3, width=0.25)["cosface"]
    pipe = fit_pipeline(model, data, progress=False)
    assert [n for n, _ in pipe.steps] == ["audioloader", "logmelpatches",
                                           "marginembeddingclassifier"]
    assert pipe.steps[0][1].duration == data.clip_seconds == 1.0
    assert set(pipe.classes_) == {"fan", "motor", "pump"}     # names, not indices
    # the front end the pipeline carries makes exactly the features the fold loop uses
    X = compute_features(["logmel"], data, duration=1.0)["logmel"].X
    np.testing.assert_array_equal(pipe.predict(data.filenames), pipe[-1].predict(X))
    np.testing.assert_allclose(pipe.decision_function(data.filenames),
                               pipe[-1].decision_function(X), rtol=0, atol=1e-6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_enroll_predict_from_the_shell(own_folder, tmp_path, capsys):
    root, whistles = own_folder
    out = tmp_path / "model.skops"
    assert main(["fit", "--data", str(root), "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "15 clips of 1 s" in printed and f"saved {out}" in printed
    model = load_model(out)
    assert list(model.classes_) == ["fan", "motor", "pump"]
    # what fit saved is what the library trains (same data, same settings)
    again = fit_pipeline(paper_models("cosface", preset="fast", epochs=3, width=0.25,
                                      device="cpu")["cosface"],
                         load_dataset(root), progress=False)
    files = sorted(str(p) for p in root.rglob("*.wav"))
    np.testing.assert_allclose(model.decision_function(files), again.decision_function(files),
                               atol=1e-5)

    enrolled = tmp_path / "enrolled.skops"
    assert main(["enroll", str(out), "--label", "whistle", *whistles[:3],
                 "--out", str(enrolled)]) == 0
    assert "a new class, 'whistle' from 3 file(s)" in capsys.readouterr().out
    by_hand = enroll_files(load_model(out), whistles[:3], "whistle")
    assert list(load_model(enrolled).classes_) == ["fan", "motor", "pump", "whistle"]
    np.testing.assert_allclose(load_model(enrolled).decision_function(whistles),
                               by_hand.decision_function(whistles), atol=1e-6)
    assert list(load_model(out).classes_) == ["fan", "motor", "pump"]   # --out: kept
    assert main(["predict", str(enrolled), *whistles]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split()[1] for r in rows] == list(by_hand.predict(whistles))
    # without --out the model file itself is replaced
    assert main(["enroll", str(out), "--label", "whistle", whistles[0]]) == 0
    assert "whistle" in load_model(out).classes_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_with_a_folder_of_other_sounds_trains_with_outlier_exposure(own_folder, tmp_path,
                                                                       capsys, monkeypatch):
    """`metricaudio fit --outliers DIR`: every audio file under DIR, read by the model's front
    end, is the pool of fit(outliers=...); what is saved is what fit_pipeline trains with the
    same files, and not what it trains without them."""
    from sklearn_metricaudio import MarginEmbeddingClassifier
    from sklearn_metricaudio.datasets import audio_files

    root, whistles = own_folder
    other = tmp_path / "other_sounds" / "deeper"
    other.mkdir(parents=True)
    for k, w in enumerate(whistles):
        (other / f"w{k}.wav").write_bytes(open(w, "rb").read())
    (other / "readme.txt").write_text("not audio")
    pools = []
    fit = MarginEmbeddingClassifier.fit

    def spy(self, X, y, groups=None, deformed=None, outliers=None):
        pools.append(None if outliers is None else np.asarray(outliers).shape)
        return fit(self, X, y, groups=groups, deformed=deformed, outliers=outliers)
    monkeypatch.setattr(MarginEmbeddingClassifier, "fit", spy)
    out = tmp_path / "model.skops"
    assert main(["fit", "--data", str(root), "--out", str(out), "--outliers",
                 str(tmp_path / "other_sounds"), *TINY]) == 0
    assert "outlier exposure: 4 files" in capsys.readouterr().out
    assert pools == [(4, 1, 128, 86)]  # four 1-s whistles, one 1-s segment each (hop 256)
    model = load_model(out)
    files = sorted(str(p) for p in root.rglob("*.wav")) + whistles
    params = dict(preset="fast", epochs=3, width=0.25, device="cpu")
    data = load_dataset(root)
    with_pool = fit_pipeline(paper_models("cosface", **params)["cosface"], data,
                             outliers=audio_files(tmp_path / "other_sounds"), progress=False)
    without = fit_pipeline(paper_models("cosface", **params)["cosface"], data, progress=False)
    # the embeddings (three epochs: not yet a useful decision, but a network trained with
    # and without the pool)
    np.testing.assert_allclose(model.transform(files), with_pool.transform(files), atol=1e-5)
    assert not np.allclose(model.transform(files), without.transform(files), atol=1e-3)
    # a model that takes no pool, and a folder with no audio, are refused before any work
    assert main(["fit", "--data", str(root), "--out", str(tmp_path / "svm.skops"), "--model",
                 "svm", "--outliers", str(tmp_path / "other_sounds"), *TINY[4:]]) == 2
    assert "only the metric (margin) models do" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["fit", "--data", str(root), "--out", str(tmp_path / "m.skops"), "--outliers",
                 str(empty), *TINY]) == 2
    assert "holds no audio file" in capsys.readouterr().err
    assert not (tmp_path / "svm.skops").exists() and not (tmp_path / "m.skops").exists()


def test_enroll_refuses_what_it_cannot_do_and_leaves_the_model_file_alone(own_folder, tmp_path,
                                                                        capsys):
    root, whistles = own_folder
    svm = tmp_path / "svm.skops"
    assert main(["fit", "--data", str(root), "--out", str(svm), "--model", "svm",
                 "--no-cache", "--n-jobs", "1"]) == 0
    before = svm.read_bytes()
    capsys.readouterr()
    assert main(["enroll", str(svm), "--label", "whistle", *whistles]) == 2
    err = capsys.readouterr().err
    assert "cannot enroll a class" in err and "SegmentAggregateClassifier" in err
    assert svm.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".skops"] == ["svm.skops"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_enroll_names_an_unreadable_file_and_writes_nothing(own_folder, tmp_path, capsys):
    root, whistles = own_folder
    out = tmp_path / "model.skops"
    assert main(["fit", "--data", str(root), "--out", str(out), *TINY]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    assert main(["enroll", str(out), "--label", "whistle", whistles[0], str(notes)]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert out.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["--out", "model.joblib"], "give a path ending in .skops"),
    (["--out", "no/such/folder/m.skops"], "does not exist"),
    (["--model", "gmm,svm"], "fit trains one model"),
    (["--epochs", "0"], "epochs"),
])
def test_fit_checks_its_input_before_any_work(own_folder, tmp_path, monkeypatch, capsys, argv,
                                              message):
    root, _ = own_folder
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--data", str(root), "--out", "m.skops", *argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.skops"))


def test_fit_names_a_data_path_it_cannot_read(tmp_path, capsys):
    assert main(["fit", "--data", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "m.skops")]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 1 epoch
def test_the_paper_preset_reads_5_s_inputs_from_files_as_in_the_fold_loop(own_folder):
    from sklearn_metricaudio import AudioLoader, LogMelPatches
    from sklearn_metricaudio.evaluation import MARGIN_PRESETS, compute_model_features

    root, _ = own_folder
    data = load_dataset(root)                      # 1-s clips
    models = paper_models("svm,softmax", preset="paper", epochs=1, width=0.25)
    est = models["softmax"].estimator
    # the paper's section 4: SGD at 0.005, batches of 32, 20 epochs (here 1), 5-s inputs
    assert (est.lr, est.lr_schedule, est.batch_size, est.optimizer) == (0.005, "constant", 32,
                                                                         "sgd")
    assert MARGIN_PRESETS["paper"].params["epochs"] == 20 and models["softmax"].segment_seconds == 5
    features = compute_model_features(models, data, n_jobs=1, progress=False)
    np.testing.assert_array_equal(                                # the clips as they are
        features["mfcc"].X, compute_features(["mfcc"], data, duration=1.0)["mfcc"].X)
    assert features["logmel"].X.shape == (15, 1, 128, 431)        # one 5-s segment per clip
    # the 5 s are the clip repeated (as AudioLoader pads), by hand
    x = AudioLoader(duration=1.0).transform(data.filenames[:1])
    by_hand = LogMelPatches(segment_seconds=5.0).transform(np.tile(x, (1, 5)))
    np.testing.assert_allclose(features["logmel"].X[:1], by_hand, rtol=0, atol=1e-4)
    pipe = fit_pipeline(models["softmax"], data, progress=False)
    assert pipe.steps[0][1].duration == 5.0 and pipe.steps[1][1].segment_seconds == 5.0
    np.testing.assert_array_equal(pipe.predict(data.filenames),
                                  pipe[-1].predict(features["logmel"].X))


# -- open-set rejection from the shell: `fit --true-accept / --rejection-layer`, `calibrate`

#: enough steps that the embedding no longer collapses: the whistles land farther from every
#: class than the known clips (3 epochs: all distances round-off)
TRAINED = ["--epochs", "20", *TINY[2:]]


def _quantile_threshold(model, files, true_accept):
    """The rejection threshold by hand: the "higher" ``true_accept`` quantile of the files'
    open-set distances (minus ``score_samples``, which no threshold changes)."""
    return float(np.quantile(-model.score_samples(files), true_accept, method="higher"))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_calibrate_from_the_shell_saves_a_model_that_rejects(own_folder, tmp_path, capsys):
    root, whistles = own_folder
    out = tmp_path / "model.skops"
    assert main(["fit", "--data", str(root), "--out", str(out), *TRAINED]) == 0
    closed = load_model(out)
    assert set(closed.predict(whistles)) <= set(closed.classes_)   # no rejection yet
    known = sorted(str(p) for p in root.rglob("*.wav"))
    calibrated = tmp_path / "calibrated.skops"
    capsys.readouterr()
    assert main(["calibrate", str(out), *known, "--true-accept", "0.8",
                 "--out", str(calibrated)]) == 0
    printed = capsys.readouterr().out
    # the "higher" 0.8 quantile of 15 distances: the 13th smallest, so 13 files accepted
    assert "on 15 file(s) (true accept 0.8)" in printed
    assert "it accepts 13 of the 15 files" in printed and f"saved {calibrated}" in printed
    model = load_model(calibrated)
    by_hand = calibrate_files(load_model(out), known, true_accept=0.8)
    assert model[-1].centroid_.threshold_ == by_hand[-1].centroid_.threshold_
    assert model[-1].centroid_.threshold_ == pytest.approx(
        _quantile_threshold(closed, known, 0.8), rel=1e-6)
    assert f"threshold {model[-1].centroid_.threshold_:.4g}" in printed
    assert list(model.predict(whistles)) == ["unknown"] * 4
    assert (model.predict(known) == "unknown").sum() == 2
    np.testing.assert_array_equal(model.predict(known + whistles),
                                  by_hand.predict(known + whistles))
    assert not hasattr(load_model(out)[-1].centroid_, "threshold_")   # --out: kept
    # without --out the model file itself is replaced
    assert main(["calibrate", str(out), *known]) == 0
    assert load_model(out)[-1].centroid_.threshold_ == pytest.approx(
        _quantile_threshold(closed, known, 0.95), rel=1e-6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_calibrate_leaves_the_model_file_alone_when_it_fails(own_folder, tmp_path, capsys,
                                                            monkeypatch):
    import zipfile

    root, whistles = own_folder
    out = tmp_path / "model.skops"
    assert main(["fit", "--data", str(root), "--out", str(out), *TINY]) == 0
    before = out.read_bytes()
    known = sorted(str(p) for p in root.rglob("*.wav"))
    capsys.readouterr()
    assert main(["calibrate", str(out), known[0], str(tmp_path / "nowhere.wav")]) == 2
    assert "nowhere.wav" in capsys.readouterr().err
    assert main(["calibrate", str(out), *known, "--true-accept", "1.5"]) == 2
    assert "--true-accept 1.5" in capsys.readouterr().err
    assert main(["calibrate", str(out), *known, "--out", str(tmp_path / "m.joblib")]) == 2
    assert "give a path ending in .skops" in capsys.readouterr().err
    # the disk fills up while the calibrated model is written: the old file is kept whole
    write = zipfile.ZipFile.writestr

    def full_disk(self, name, data, *args, **kwargs):
        if str(getattr(name, "filename", name)).startswith("nets/"):
            raise OSError(28, "No space left on device")
        return write(self, name, data, *args, **kwargs)
    monkeypatch.setattr(zipfile.ZipFile, "writestr", full_disk)
    assert main(["calibrate", str(out), *known]) == 2
    assert "No space left on device" in capsys.readouterr().err
    monkeypatch.undo()
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == \
        ["model.skops"] + [f"whistle{k}.wav" for k in range(4)]   # no part-written file


def test_calibrate_refuses_a_model_that_cannot_reject(own_folder, tmp_path, capsys):
    root, whistles = own_folder
    svm = tmp_path / "svm.skops"
    assert main(["fit", "--data", str(root), "--out", str(svm), "--model", "svm",
                 "--no-cache", "--n-jobs", "1"]) == 0
    before = svm.read_bytes()
    capsys.readouterr()
    assert main(["calibrate", str(svm), *whistles]) == 2
    err = capsys.readouterr().err
    assert "cannot reject unknown sounds" in err and "SegmentAggregateClassifier" in err
    assert svm.read_bytes() == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_true_accept_calibrates_on_the_clips_held_out_of_training(own_folder, tmp_path,
                                                                      capsys):
    root, whistles = own_folder
    out = tmp_path / "model.skops"
    assert main(["fit", "--data", str(root), "--out", str(out), "--true-accept", "0.9",
                 *TRAINED]) == 0
    printed = capsys.readouterr().out
    model = load_model(out)
    mask = model[-1].validation_mask_
    held_out = list(load_dataset(root).filenames[mask])
    assert 0 < len(held_out) < 15
    assert f"calibrated on the {len(held_out)} validation clips held out of training " \
           "(true accept 0.9)" in printed
    # the threshold of exactly those clips, by hand and through the library
    threshold = model[-1].centroid_.threshold_
    assert threshold == pytest.approx(_quantile_threshold(model, held_out, 0.9), rel=1e-6)
    by_hand = calibrate_files(load_model(out), held_out, true_accept=0.9)
    assert threshold == pytest.approx(by_hand[-1].centroid_.threshold_, rel=1e-6)
    trained_on = list(load_dataset(root).filenames[~mask])
    assert threshold != pytest.approx(_quantile_threshold(model, trained_on, 0.9), rel=1e-3)
    assert list(model.predict(whistles)) == ["unknown"] * 4


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_rejection_layer_sets_the_distance_the_saved_model_rejects_on(own_folder,
                                                                         tmp_path, capsys):
    root, whistles = own_folder
    out = tmp_path / "model.skops"
    assert main(["fit", "--data", str(root), "--out", str(out), "--rejection-layer",
                 "embedding+9", "--true-accept", "0.9", *TINY]) == 0
    assert "on the embedding's and block 9's distances summed" in capsys.readouterr().out
    clf = load_model(out)[-1]
    assert tuple(clf.rejection_layer) == ("embedding", 9)
    assert clf.rejection_block_ == 9 and clf.rejection_scale_ is not None
    held_out = list(load_dataset(root).filenames[clf.validation_mask_])
    assert clf.rejection_threshold_ == pytest.approx(
        _quantile_threshold(load_model(out), held_out, 0.9), rel=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["--rejection-layer", "embedding+14"], "--rejection-layer 'embedding+14': give embedding"),
    (["--rejection-layer", "0"], "--rejection-layer '0'"),
    (["--rejection-layer", "block9"], "a block number K in 1..13"),
    (["--rejection-layer", "9+embedding"], "embedding+K"),
    (["--rejection-layer", "embedding+"], "--rejection-layer"),
    (["--model", "svm", "--rejection-layer", "9"], "--model svm has none"),
    (["--model", "svm", "--true-accept", "0.9"], "--model svm (SegmentAggregateClassifier) "
                                                 "cannot reject unknown sounds"),
    (["--true-accept", "0"], "--true-accept 0: give the share"),
    (["--true-accept", "1.5"], "in (0, 1]"),
])
def test_fit_checks_its_rejection_options_before_any_work(own_folder, tmp_path, monkeypatch,
                                                          capsys, argv, message):
    import sklearn_metricaudio.evaluation as evaluation

    def must_not_run(*args, **kwargs):
        raise AssertionError("trained before the options were checked")
    monkeypatch.setattr(evaluation, "fit_pipeline", must_not_run)
    root, _ = own_folder
    assert main(["fit", "--data", str(root), "--out", str(tmp_path / "m.skops"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.skops"))


@pytest.mark.parametrize("argv", [["--true-accept", "0.9"],
                                  ["--rejection-layer", "embedding+9"]])
def test_fit_refuses_a_rejection_that_needs_clips_held_out_when_none_are(
        own_folder, tmp_path, monkeypatch, capsys, argv):
    import sklearn_metricaudio.evaluation as evaluation
    from sklearn_metricaudio.evaluation import MARGIN_PRESETS

    def must_not_run(*args, **kwargs):
        raise AssertionError("trained before the options were checked")
    monkeypatch.setattr(evaluation, "fit_pipeline", must_not_run)
    monkeypatch.setitem(MARGIN_PRESETS["fast"].params, "validation_split", None)
    root, _ = own_folder
    assert main(["fit", "--data", str(root), "--out", str(tmp_path / "m.skops"), *argv,
                 *TINY]) == 2
    assert f"{argv[0]} " in (err := capsys.readouterr().err)
    assert "holds none out (validation_split=None)" in err
    assert not list(tmp_path.glob("*.skops"))
