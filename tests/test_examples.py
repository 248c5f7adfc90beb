"""Every example runs, on tiny settings, so that none can rot unnoticed."""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def example(load_script):
    return lambda name: load_script(EXAMPLES / f"{name}.py")


def test_every_example_has_a_smoke_test():
    assert {p.stem for p in EXAMPLES.glob("*.py")} == {"baselines_on_synthetic",
                                                       "enroll_new_class",
                                                       "augmentation_selection",
                                                       "pipeline",
                                                       "grid_search_margins",
                                                       "ins_analysis",
                                                       "deploy_model",
                                                       "your_own_sounds",
                                                       # its smoke test: tests/test_accelerate.py
                                                       "multi_gpu_accelerate"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_baselines_on_synthetic(example, tmp_path, capsys):
    example("baselines_on_synthetic").main(["--n-per-class", "2", "--n-folds", "2",
                                          "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "MFCC + GMM: balanced accuracy" in out and "MFCC + SVM: balanced accuracy" in out
    assert (tmp_path / "confusion_svm.png").read_bytes()[:4] == b"\x89PNG"


def test_enroll_new_class(example, tmp_path, capsys):
    rng = np.random.default_rng(0)
    root = tmp_path / "ESC-10"
    for k in range(10):  # 10 classes (two splits of five), 2 folds x 2 recordings x 2 takes
        folder = root / f"{k + 1:03d} - Class {k}"
        folder.mkdir(parents=True)
        for fold in (1, 2):
            for rec in range(2):
                for take in "AB":
                    t = np.arange(4000) / 8000
                    x = np.sin(2 * np.pi * (200 + 150 * k) * t) + 0.1 * rng.normal(size=t.size)
                    sf.write(folder / f"{fold}-{1000 * k + 10 * fold + rec}-{take}.wav", x, 8000)
    example("enroll_new_class").main([str(root), "--shots", "1", "--draws", "2", "--epochs", "1"])
    out = capsys.readouterr().out
    assert out.count("embedding") >= 2 and out.count("MFCC stats") >= 2


def test_augmentation_selection(example, tmp_path, capsys):
    sampler = example("augmentation_selection").main(
        ["--n-per-class", "6", "--n-folds", "3", "--epochs", "1", "--n-neighbors", "1",
         "--data-home", str(tmp_path)])
    out = capsys.readouterr().out
    assert "deformed clips kept" in out and "overall acceptance" in out
    assert out.count("balanced accuracy on fold 3") == 2
    assert len(sampler.variant_names_) == 20


def test_pipeline(example, tmp_path, capsys):
    scores, shapes = example("pipeline").main(
        ["--n-per-class", "4", "--n-folds", "2", "--epochs", "1", "--data-home", str(tmp_path)])
    out = capsys.readouterr().out
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    assert "mean over 2 folds" in out
    # path -> waveform -> log-mel patches -> segment embeddings -> distance to each centroid
    assert shapes["audioloader"] == (2, 88200)
    assert shapes["logmelpatches"] == (2, 4, 128, 86)
    assert shapes["marginembeddingclassifier"] == (2, 13, 32)  # windows every 21 of 86 frames
    assert shapes["centroid distances"] == (2, 8)


def test_grid_search_margins(example, tmp_path, capsys):
    search = example("grid_search_margins").main(
        ["--n-per-class", "4", "--n-folds", "2", "--epochs", "1", "--losses", "softmax",
         "cosface", "--margins", "0.35", "--data-home", str(tmp_path)])
    out = capsys.readouterr().out
    key = "marginembeddingclassifier__"
    assert [(p[key + "loss"], p.get(key + "margin")) for p in search.cv_results_["params"]] == [
        ("softmax", None), ("cosface", 0.35)]
    assert search.best_estimator_[0].epochs == 1 and search.n_splits_ == 2
    # one row per cell, then the winner: whichever cell it is (one epoch on a few clips can
    # tie, and which loss wins then is float round-off on this CPU)
    assert out.count("\ncosface ") == out.count("\nsoftmax ") == 1
    assert f"best: {search.best_params_}" in out


def test_ins_analysis(example, tmp_path, capsys):
    plot = tmp_path / "ins.png"
    d = example("ins_analysis").main(["--n-clips", "2", "--seconds", "0.5", "--n-surrogates",
                                      "8", "--data-home", str(tmp_path), "--plot", str(plot)])
    out = capsys.readouterr().out
    assert d.ins.shape == d.threshold.shape == (2, 8)
    # the synthetic car horn (a pitched tone switched on and off) is non-stationary everywhere
    assert d.nonstationary[1].all() and d.max_ins[1] > 10
    assert sum(line.startswith("max INS") for line in out.splitlines()) == 2  # one per clip
    assert "car_horn" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_deploy_model(example, tmp_path, capsys):
    r = example("deploy_model").main(
        ["--n-per-class", "4", "--n-folds", "2", "--epochs", "1", "--device", "cpu",
         "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert (tmp_path / "model.skops").stat().st_size > 0
    # the fresh process labelled every held-out clip (8 classes x 2) as the fitted model does
    assert r["labels"].shape == (16,) and r["proba"].shape == (16, 8)
    assert r["same"].all() and r["max_diff"] < 1e-5
    assert "agrees with the fitted model on 16 of 16 labels" in out
    assert r["onnx_max_diff"] < 1e-4  # one epoch: the labels may hinge on float rounding
    # the long recording: 16 clips of 4 s, events covering it end to end
    events = r["events"]
    assert events[0].start == 0 and events[-1].end == pytest.approx(64.0)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(events, events[1:]))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 2 epochs
def test_your_own_sounds(example, tmp_path, capsys):
    r = example("your_own_sounds").main(["--n-per-class", "6", "--epochs", "2",
                                         "--out", str(tmp_path)])
    out = capsys.readouterr().out
    # the folder per class, evaluated, fitted, a class enrolled, files and a stream labelled
    assert "$ metricaudio evaluate --data" in out
    assert re.search(r"^svm +\d", out, re.M) and re.search(r"^cosface +\d", out, re.M)
    assert "siren" not in load_dataset_names(tmp_path / "my_sounds")
    assert r["classes"] == sorted(r["classes"]) and "siren" in r["classes"]
    assert len(r["classes"]) == 8 and r["new_said"].shape == (3,)
    assert "windows" in out and "events" in out


def load_dataset_names(root):
    from sklearn_metricaudio.datasets import load_dataset

    return list(load_dataset(root).target_names)
