"""Every benchmark runs, in a tiny smoke mode, so that none can rot unnoticed.

A few clips, one repeat, no timing assertion: the point is that each script still runs
against the library as it is (a benchmark that crashes on main has happened).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_esc10(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "ESC-10"
    for k, name in enumerate(["001 - Dog bark", "002 - Rain", "003 - Sea waves"]):
        (root / name).mkdir(parents=True)
        for fold in (1, 2):
            for clip in range(3):
                t = np.arange(4000) / 8000
                x = 0.3 * np.sin(2 * np.pi * (300 + 900 * k) * t) + 0.05 * rng.normal(size=t.size)
                sf.write(root / name / f"{fold}-{100 * k + 10 * fold + clip}-A.wav", x, 8000)
    return root


def test_every_benchmark_has_a_smoke_test():
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")}
    tested = {"bench_features", "bench_baselines", "bench_ins", "bench_margin", "bench_real",
              "tune_margin", "cuda_pickle_check"}
    assert scripts == tested, f"add a smoke test for {sorted(scripts - tested)}"


def test_bench_features(capsys):
    _load("bench_features").main(["--clips", "4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "MFCCStats (275)" in out and "LogMelPatches (128x86)" in out


def test_bench_baselines(capsys):
    _load("bench_baselines").main(["--n-per-class", "2", "--n-folds", "2", "--n-jobs", "1"])
    out = capsys.readouterr().out
    assert out.count("\ngmm") + out.count("\nsvm") == 2


def test_bench_ins(capsys):
    _load("bench_ins").main(["--seconds", "0.75", "--surrogates", "3", "--threads", "1"])
    assert "verdicts equal" in capsys.readouterr().out


def test_bench_margin(capsys):
    _load("bench_margin").main(["--widths", "0.25", "--clips", "4", "--frames", "16"])
    assert "predict ms/clip" in capsys.readouterr().out


def test_bench_real(tiny_esc10, capsys):
    _load("bench_real").main([str(tiny_esc10), "--models", "svm", "cosface", "--epochs", "1",
                              "--n-jobs", "1"])
    out = capsys.readouterr().out
    assert "by source recording (fsID)" in out and "\ncosface" in out and "\nsvm" in out


def test_tune_margin(capsys):
    _load("tune_margin").main(["dict(epochs=1)", "--folds", "1", "--n-per-class", "4",
                               "--hop-length", "512"])
    assert "dict(epochs=1): folds" in capsys.readouterr().out


def test_cuda_pickle_check_round_trip_on_the_cpu(tmp_path, capsys):
    bench = _load("cuda_pickle_check")
    model = str(tmp_path / "model.joblib")
    common = ["--device", "cpu", "--n-per-class", "4", "--epochs", "1",
              "--data-home", str(tmp_path / "data")]
    assert bench.main(["fit", model, *common]) == 0
    assert bench.main(["check", model, *common]) == 0
    assert "CPU predictions equal to the CUDA ones" in capsys.readouterr().out
