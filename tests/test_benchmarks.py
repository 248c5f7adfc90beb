"""Every benchmark runs, in a tiny smoke mode, so that none can rot unnoticed.

A few clips, one repeat, no timing assertion: the point is that each script still runs
against the library as it is (a benchmark that crashes on main has happened).
"""

import re
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(load_script):
    return lambda name: load_script(BENCHMARKS / f"{name}.py")


def test_every_benchmark_has_a_smoke_test():
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")}
    tested = {"bench_features", "bench_baselines", "bench_ins", "bench_margin", "bench_real",
              "tune_margin", "cuda_pickle_check", "bench_augment", "bench_selector", "bench_enroll",
              "bench_open_set", "train_model", "bench_decision_paths", "bench_own_data",
              "bench_fusion", "bench_segment_hop", "bench_seed_ensemble",
              # smoke-tested beside their modules: tests/test_onnx_export.py, test_streaming.py
              "bench_inference", "bench_stream"}
    assert scripts == tested, f"add a smoke test for {sorted(scripts - tested)}"


def test_bench_features(bench, capsys):
    bench("bench_features").main(["--clips", "4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "MFCCStats (275)" in out and "LogMelPatches (128x86)" in out


def test_bench_augment(bench, capsys):
    bench("bench_augment").main(["--clips", "2", "--seconds", "0.5", "--repeats", "1"])
    out = capsys.readouterr().out
    assert all(f"\n{name} " in out for name in ("TS", "PS1", "PS2", "DRC", "BG"))


def test_bench_selector(bench, tiny_esc10, capsys):
    # tiny_esc10 has 2 folds: the metric of each learns from the other's 9 clips
    bench("bench_selector").main([str(tiny_esc10), "--epochs", "1", "--n-neighbors", "1"])
    out = capsys.readouterr().out
    assert "peak RSS" in out and "overall acceptance" in out


def test_train_model_saves_what_it_trained(bench, tiny_esc10, tmp_path, capsys):
    from sklearn_metricaudio.deploy import load_model

    (tmp_path / "models").mkdir()
    out = tmp_path / "models" / "pipe.skops"
    pipe = bench("train_model").main(["--data", str(tiny_esc10), "--folds", "1", "--out", str(out),
                                      "--params", "{'epochs': 1, 'width': 0.25}"])
    printed = capsys.readouterr().out
    assert "training on 9 clips" in printed and "held-out folds [2]" in printed
    assert load_model(out).get_params()["marginembeddingclassifier__epochs"] == 1
    assert [p.name for p in out.parent.iterdir()] == ["pipe.skops"]   # no temporary left
    assert pipe.steps[0][1].duration == 5.0   # the layout's clip length (ESC: 5 s)


def test_bench_decision_paths_on_a_saved_model(bench, tiny_esc10, tmp_path, capsys):
    out = tmp_path / "pipe.skops"
    bench("train_model").main(["--data", str(tiny_esc10), "--folds", "1", "--out", str(out),
                               "--params", "{'epochs': 3, 'width': 0.25}"])
    capsys.readouterr()
    csv_path = tmp_path / "labels.csv"
    status = bench("bench_decision_paths").main([str(out), str(tiny_esc10), "--clips", "4",
                                                 "--out", str(csv_path)])
    printed = capsys.readouterr().out
    for path in ("centroid", "files", "stream"):
        assert f"| {path} (" in printed
    assert "silence-padded: 4 of 4 clips have silent segments" in printed
    for path in ("centroid", "files", "stream"):  # float64 paths: identical labels
        assert next(r for r in printed.splitlines() if r.startswith(f"| {path} (")).split(
            " | ")[1] == "8/8"
    assert status == 0  # the ONNX graph (float32) may differ only at ties
    assert len(csv_path.read_text().splitlines()) == 9


def test_bench_own_data_runs_the_shell_end_to_end(bench, tiny_esc10, tmp_path, capsys):
    work = tmp_path / "work"
    argv = [str(tiny_esc10), "--work", str(work), "--models", "svm", "--enroll-class",
            "Sea waves", "--shots", "1", "--preset", "fast", "--epochs", "2"]
    assert bench("bench_own_data").main(argv) == 0
    printed = capsys.readouterr().out
    assert "| evaluate, folder per class | svm |" in printed
    assert "| evaluate, manifest with groups | svm |" in printed
    assert re.search(r"\| predict its 5 clips of other recordings \|\s+\| \d/5 labelled Sea waves",
                     printed)
    assert (work / "manifest" / "clips.csv").read_text().startswith("file,label,group\n")
    assert not any(p.is_file() and not p.is_symlink() for p in (work / "folder").rglob("*"))
    # a second run keeps what the first one wrote
    assert bench("bench_own_data").main(argv) == 0
    assert "(kept from" in capsys.readouterr().out


def test_bench_baselines(bench, capsys):
    bench("bench_baselines").main(["--n-per-class", "2", "--n-folds", "2", "--n-jobs", "1"])
    out = capsys.readouterr().out
    assert out.count("\ngmm") + out.count("\nsvm") == 2


def test_bench_ins(bench, capsys):
    bench("bench_ins").main(["--seconds", "0.75", "--surrogates", "3", "--threads", "1"])
    assert "verdicts equal" in capsys.readouterr().out


def test_bench_margin(bench, capsys):
    bench("bench_margin").main(["--widths", "0.25", "--clips", "4", "--frames", "16"])
    assert "predict ms/clip" in capsys.readouterr().out


def test_bench_margin_profile(bench, capsys):
    prof = bench("bench_margin").main(["--profile", "20", "--frames", "16"])
    out = capsys.readouterr().out
    assert "gathering the batches" in out and "centroid validation" in out
    assert any(e.key == "aten::convolution_backward" for e in prof.key_averages())  # trained


def test_bench_margin_epoch_times(bench, capsys):
    bench("bench_margin").main(["--epoch-times", "20", "--frames", "8"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.lstrip().startswith(("float", "bfloat"))]
    assert [r[0] + r[1] for r in rows] == ["float32NHWC", "bfloat16NHWC", "float32NCHW",
                                           "float32NHWC"]
    assert all(len(r[2:-2]) == 5 for r in rows)  # three epochs "a / b / c", ms per step, fit s


def test_bench_margin_paper_protocol(bench, capsys):
    bench("bench_margin").main(["--paper-protocol", "1", "--protocol-clips", "40",
                                "--epochs-override", "1", "--frames", "8"])
    out = capsys.readouterr().out
    assert "10-fold protocol" in out and "1 folds at a time" in out


def test_bench_real(bench, tiny_esc10, tmp_path, capsys):
    bench("bench_real").main([str(tiny_esc10), "--models", "svm", "cosface", "--epochs", "1",
                              "--n-jobs", "1", "--save-scores", str(tmp_path / "r_")])
    out = capsys.readouterr().out
    assert "by source recording (fsID)" in out and "\ncosface" in out and "\nsvm" in out
    # the saved scores fuse (the same clips, folds and classes in both files)
    rows = bench("bench_fusion").main([str(tmp_path / f"r_{tiny_esc10.name}_{m}.npz")
                                       for m in ("svm", "cosface")])
    assert [r["name"] for r in rows][-1] == "fusion"


def _scores_file(path, scores, y, fold, index=None):
    index = np.arange(len(y)) if index is None else index
    np.savez(path, index=index, y=y, fold=fold, classes=np.array([0, 1, 2]), scores=scores)
    return str(path)


def test_bench_fusion_against_a_hand_computation(bench, tmp_path, capsys):
    fusion = bench("bench_fusion")
    y, fold = np.array([0, 1, 2, 0, 1, 2]), np.array([1, 1, 1, 2, 2, 2])
    a = np.array([[3., 0, 0], [0, 1, 0], [1, 0, 2], [0, 2, 0], [0, 3, 0], [0, 0, 1]])
    b = 10 * np.array([[0., 1, 0], [0, 2, 0], [0, 0, 1], [2, 0, 0], [1, 0, 0], [0, 1, 0]])
    # by hand: centred per clip, scaled to unit std (b's factor 10 cancels), summed
    za = (a - a.mean(1, keepdims=True)) / (a - a.mean(1, keepdims=True)).std()
    zb = (b - b.mean(1, keepdims=True)) / (b - b.mean(1, keepdims=True)).std()
    expected = np.argmax(za + zb, axis=1)
    rows = fusion.main([_scores_file(tmp_path / "a.npz", a, y, fold),
                        _scores_file(tmp_path / "b.npz", b, y, fold)])
    # a: one clip of class 0 wrong (recalls 1/2, 1, 1); b: one clip of each class wrong
    assert rows[0]["pooled"] == pytest.approx(2.5 / 3) and rows[1]["pooled"] == pytest.approx(0.5)
    from sklearn.metrics import balanced_accuracy_score
    assert rows[2]["pooled"] == pytest.approx(balanced_accuracy_score(y, expected))
    assert not np.array_equal(expected, np.argmax(a, axis=1))   # the fusion changes labels
    # one weight zero: the other file alone; rows stored in another order: the same clips
    perm = np.array([5, 3, 1, 0, 2, 4])
    rows = fusion.main([_scores_file(tmp_path / "a.npz", a, y, fold),
                        _scores_file(tmp_path / "p.npz", b[perm], y[perm], fold[perm], perm),
                        "--weights", "1", "0"])
    assert rows[2]["pooled"] == pytest.approx(rows[0]["pooled"])
    with pytest.raises(ValueError, match="c.npz: its 'fold' differs"):
        fusion.main([_scores_file(tmp_path / "a.npz", a, y, fold),
                     _scores_file(tmp_path / "c.npz", b, y, 3 - fold)])


def test_bench_real_runs_every_set_it_is_given(bench, tiny_esc10, tiny_us8k, capsys):
    bench("bench_real").main([str(tiny_esc10), str(tiny_us8k[1]), "--models", "cosface",
                              "--epochs", "1", "--n-jobs", "1"])
    out = capsys.readouterr().out
    # the default preset trains with the 16 deformed versions of every clip
    assert out.count("+ deformed (") == 2 and out.count("s in all") == 2
    assert "# ESC-10 (ESC-10)" in out and "# UrbanSound8K (UrbanSound8K)" in out


def test_bench_enroll(bench, tiny_esc10, tiny_us8k, capsys):
    # the roles swapped: the 8-class synthetic set is split in halves, the 3-class one enrolled
    bench("bench_enroll").main(["--esc10", str(tiny_us8k[1]), "--us8k", str(tiny_esc10),
                                "--epochs", "1", "--draws", "2", "--shots", "1",
                                "--params", "{'embedding_dim': 8}"])
    out = capsys.readouterr().out
    for task in ("ESC-10 4/4", "ESC-10 -> US8K", "US8K -> ESC-10"):
        assert out.count(task) >= 7, task   # embedding, CL2N, clip mean, MFCC, 2 joined, block
    assert "embedding, clip mean" in out and "MFCC stats" in out and "embedding, CL2N" in out
    assert "joined: emb + MFCC" in out and "joined: block 9 + MFCC" in out


def test_bench_open_set(bench, tiny_esc10, tiny_us8k, tmp_path, capsys):
    import soundfile as sf

    # the ESC clips followed by digital silence, as ESC pads its short recordings: silent
    # segments are NaN rows of the model's transform, which every score must leave out
    padded = tmp_path / "ESC-10"
    for f in tiny_esc10.rglob("*.wav"):
        x, sr = sf.read(f)
        (padded / f.parent.name).mkdir(parents=True, exist_ok=True)
        sf.write(padded / f.parent.name / f.name, np.concatenate([x, np.zeros(4 * sr)]), sr)
    # the 8-class synthetic set, one rotation (classes 0 and 1 unknown); ESC's as other unknowns
    bench("bench_open_set").main(["--data", str(tiny_us8k[1]), "--unknown", str(padded),
                                  "--epochs", "1", "--true-accept", "0.9", "--rotations", "0",
                                  "--alternatives", "--params", "{'embedding_dim': 8}",
                                  "--other-class", "--outlier-exposure"])
    out = capsys.readouterr().out
    for rep in ("embedding", "emb clip mean", "emb 1-NN", "emb block 9", "emb + block 9",
                "MFCC stats"):
        for unknowns in ("held-out classes", "other data set"):
            assert out.count(f"{rep:<16}{unknowns}") == 2, (rep, unknowns)  # rotation, mean
    assert out.count("OE near - other") == 2 and out.count("OE nearest") == 2
    assert out.count("emb + exposure  held-out classes") == 2
    assert "mean over 1 rotations, target true-accept 90 %" in out
    assert "nan" not in out.lower()


def test_bench_open_set_combined_score(bench):
    # each distance over its median on the validation clips, summed; the library's own row
    # dropped (it is the "embedding" row)
    alt = {"valid": {"library": np.array([1.0, 2.0, 3.0]), "block 9": np.array([4.0, 8.0, 6.0])},
           "known": {"library": np.array([2.0]), "block 9": np.array([3.0]),
                     "1-NN": np.array([0.5])}}
    out = bench("bench_open_set")._combined(alt, 9)
    np.testing.assert_allclose(out["known"]["+ block 9"], [2.0 / 2.0 + 3.0 / 6.0])
    np.testing.assert_allclose(out["valid"]["+ block 9"], [1 / 2 + 4 / 6, 1 + 8 / 6, 3 / 2 + 1])
    assert set(out["known"]) == {"block 9", "1-NN", "+ block 9"}


def test_bench_open_set_deformation_families(bench):
    # --deformations alone: the 16 training deformations; with names, only those families,
    # in the shipped order; a name that is no family stops with the names there are
    from sklearn_metricaudio.augment import training_deformations

    pick = bench("bench_open_set")._deformations
    assert pick(None) is None
    assert [n for n, _ in pick([])] == [n for n, _ in training_deformations()]
    assert [n for n, _ in pick(["DRC", "TS"])] == ["TS", "DRC"]
    with pytest.raises(SystemExit, match="unknown families \\['PS3'\\].*'PS1'"):
        pick(["TS", "PS3"])


def test_bench_open_set_folds(bench, tiny_esc10, tiny_us8k, tmp_path, capsys):
    # every class known, one fold tested; the other set's clips the only unknowns; the
    # library's distance and block 9's summed; the fitted model saved for later scores
    bench("bench_open_set").main(["--data", str(tiny_esc10), "--unknown", str(tiny_us8k[1]),
                                  "--folds", "--rotations", "1", "--epochs", "1",
                                  "--alternatives", "--params", "{'embedding_dim': 8}",
                                  "--save-models", str(tmp_path / "m")])
    out = capsys.readouterr().out
    assert "1: all known (fold 2)" in out
    for rep in ("embedding", "emb block 9", "emb + block 9", "MFCC stats"):
        assert out.count(f"{rep:<16}other data set") == 2, rep
    assert "held-out classes" not in out and "nan" not in out.lower()
    import joblib

    from sklearn_metricaudio.datasets import load_dataset

    data = load_dataset(tiny_esc10)
    model = joblib.load(tmp_path / "m" / "rotation1.pkl")
    assert set(model.classes_) == set(np.unique(data.target))
    with pytest.raises(SystemExit):
        bench("bench_open_set").main(["--data", str(tiny_esc10), "--folds"])
    # the saved model judged from overlapping windows (bench_segment_hop)
    hop = bench("bench_segment_hop")
    hop.main(["--data", str(tiny_esc10), "--models", str(tmp_path / "m"), "--unknown",
              str(tiny_us8k[1]), "--hops", "1", "0.25"])
    out = capsys.readouterr().out
    assert "fold 2: hop 1: " in out and "| hop 0.25: " in out and "AUROC" in out
    assert "recall per class" in out and "nan" not in out.lower()
    with pytest.raises(SystemExit):
        hop.main(["--data", str(tiny_esc10), "--models", str(tmp_path / "m"), "--hops", "0"])
    # a seed ensemble of the model and its copy votes as the model alone (bench_seed_ensemble)
    import shutil

    shutil.copytree(tmp_path / "m", tmp_path / "m_copy")
    ensemble = bench("bench_seed_ensemble")
    ensemble.main(["--data", str(tiny_esc10), "--models", str(tmp_path / "m"),
                   str(tmp_path / "m_copy"), "--unknown", str(tiny_us8k[1])])
    out = capsys.readouterr().out
    fold_line = next(line for line in out.splitlines() if line.startswith("fold 2: "))
    alone, twin, both = (part.split(",")[0].split()[-1] for part in fold_line.split(" | "))
    assert alone == twin == both and "AUROC" in fold_line
    assert "recall per class" in out and "nan" not in out.lower()
    with pytest.raises(SystemExit):
        ensemble.main(["--data", str(tiny_esc10), "--models", str(tmp_path / "m")])


def test_bench_seed_ensemble_votes_as_voting_classifier(bench):
    """soft_vote over fitted classifiers is VotingClassifier(voting="soft")'s decision."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_classification(n_samples=120, n_classes=3, n_informative=4, random_state=0)
    vote = VotingClassifier([("a", LogisticRegression(max_iter=500)),
                             ("b", DecisionTreeClassifier(max_depth=3, random_state=0))],
                            voting="soft").fit(X, y)
    labels, proba = bench("bench_seed_ensemble").soft_vote(vote.estimators_, X)
    np.testing.assert_array_equal(labels, vote.predict(X))
    np.testing.assert_allclose(proba, vote.predict_proba(X))
    assert not np.array_equal(labels, vote.estimators_[0].predict(X))   # not one model alone


def test_bench_segment_hop_makes_the_model_fit_would_make(bench):
    """with_hop(model, h, ...) on a model fitted at hop 1 is the model fit makes with
    segment_hop=h: the same network (training does not depend on it), the same centroids."""
    from sklearn_metricaudio import MarginEmbeddingClassifier

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 8)
    X = rng.normal(size=(24, 3, 16, 12)).astype(np.float32)
    X[:, :, 4 * y[:, None], :] += 3.0    # a louder band per class, over time
    X[:, :, :, :6] += rng.normal(size=(24, 3, 1, 1)).astype(np.float32)  # segment-wise steps
    params = dict(width=0.25, epochs=3, batch_size=8, validation_split=0.25, random_state=0)
    at_1 = MarginEmbeddingClassifier(**params, segment_hop=1.0).fit(X, y)
    at_half = MarginEmbeddingClassifier(**params, segment_hop=0.5).fit(X, y)
    fit = ~at_1.validation_mask_
    got = bench("bench_segment_hop").with_hop(at_1, 0.5, X[fit], y[fit])
    np.testing.assert_allclose(got.centroid_.centroids_, at_half.centroid_.centroids_,
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(got.centroid_.centroids_, at_1.centroid_.centroids_, atol=1e-4)
    np.testing.assert_array_equal(got.predict(X), at_half.predict(X))


def test_tune_margin(bench, tmp_path, capsys):
    bench("tune_margin").main(["dict(epochs=1)", "--folds", "1", "--n-per-class", "4",
                               "--hop-length", "512", "--save-scores", str(tmp_path / "s_")])
    assert "dict(epochs=1): folds" in capsys.readouterr().out
    with np.load(tmp_path / "s_0.npz") as z:   # fold 1's test clips, one score per class
        assert z["scores"].shape == (z["y"].size, z["classes"].size) and set(z["fold"]) == {1}


def test_tune_margin_with_deformed_versions_and_a_saved_log_mel(bench, tmp_path, capsys):
    saved = str(tmp_path / "lm.npz")
    tune = bench("tune_margin")
    tune.main(["--n-per-class", "2", "--duration", "1", "--hop-length", "512", "--deformed",
               "--save-logmel", saved])
    tune.main(["dict(epochs=1, validation_split=None)", "--logmel", saved, "--folds", "1"])
    out = capsys.readouterr().out
    assert "deformed (16, 16, 1, 128, 43)" in out and "every segment counted" in out


@pytest.mark.parametrize("name", ["model.joblib", "model.skops"])
def test_cuda_pickle_check_round_trip_on_the_cpu(bench, tmp_path, capsys, name):
    bench = bench("cuda_pickle_check")
    model = str(tmp_path / name)
    common = ["--device", "cpu", "--n-per-class", "4", "--epochs", "1",
              "--data-home", str(tmp_path / "data")]
    assert bench.main(["fit", model, *common]) == 0
    assert bench.main(["check", model, *common]) == 0
    assert "CPU predictions equal to the CUDA ones" in capsys.readouterr().out
