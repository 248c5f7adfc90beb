"""Every example runs, on tiny settings, so that none can rot unnoticed."""

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
                                                       "augmentation_selection"}


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
