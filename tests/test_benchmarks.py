"""Every benchmark runs, in a tiny smoke mode, so that none can rot unnoticed.

A few clips, one repeat, no timing assertion: the point is that each script still runs
against the library as it is (a benchmark that crashes on main has happened).
"""

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(load_script):
    return lambda name: load_script(BENCHMARKS / f"{name}.py")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_every_benchmark_has_a_smoke_test():
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")}
    tested = {"bench_features", "bench_baselines", "bench_ins", "bench_margin", "bench_real",
              "tune_margin", "cuda_pickle_check", "bench_augment", "bench_selector"}
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


def test_bench_real(bench, tiny_esc10, capsys):
    bench("bench_real").main([str(tiny_esc10), "--models", "svm", "cosface", "--epochs", "1",
                              "--n-jobs", "1"])
    out = capsys.readouterr().out
    assert "by source recording (fsID)" in out and "\ncosface" in out and "\nsvm" in out


def test_tune_margin(bench, capsys):
    bench("tune_margin").main(["dict(epochs=1)", "--folds", "1", "--n-per-class", "4",
                               "--hop-length", "512"])
    assert "dict(epochs=1): folds" in capsys.readouterr().out


def test_cuda_pickle_check_round_trip_on_the_cpu(bench, tmp_path, capsys):
    bench = bench("cuda_pickle_check")
    model = str(tmp_path / "model.joblib")
    common = ["--device", "cpu", "--n-per-class", "4", "--epochs", "1",
              "--data-home", str(tmp_path / "data")]
    assert bench.main(["fit", model, *common]) == 0
    assert bench.main(["check", model, *common]) == 0
    assert "CPU predictions equal to the CUDA ones" in capsys.readouterr().out
