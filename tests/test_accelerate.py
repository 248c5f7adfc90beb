"""Training through skorch's Accelerate integration (the `scale` extra): one process against
plain training, the batch shards of data-parallel training, and two real processes."""

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_metricaudio import MarginEmbeddingClassifier
from sklearn_metricaudio.models import _training

accelerate = pytest.importorskip("accelerate", reason="accelerate is in the `scale` extra")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "multi_gpu_accelerate.py"


def _two_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 2, 16, 8)).astype(np.float32)
    X[12:, :, :8] += 3.0
    return X, np.repeat([0, 1], 12)


def test_one_process_trains_the_model_plain_training_trains():
    """On one CPU process the accelerator changes nothing: same weights, same epoch kept; the
    fitted model pickles and no longer needs accelerate."""
    X, y = _two_classes()
    kw = dict(width=0.25, epochs=3, batch_size=8, random_state=0)
    plain = MarginEmbeddingClassifier(**kw).fit(X, y)
    acc = MarginEmbeddingClassifier(**kw, accelerator=accelerate.Accelerator(cpu=True)).fit(X, y)
    assert isinstance(acc.net_, _training.AcceleratedMarginNet)
    np.testing.assert_allclose(acc.transform(X), plain.transform(X), atol=1e-6)
    assert acc.best_epoch_ == plain.best_epoch_
    assert [h["train_loss"] for h in acc.history_] == pytest.approx(
        [h["train_loss"] for h in plain.history_])
    loaded = pickle.loads(pickle.dumps(acc))
    np.testing.assert_array_equal(loaded.predict(X), acc.predict(X))
    assert loaded.net_.accelerator is None                      # released after training
    assert type(loaded.net_.optimizer_) is torch.optim.SGD      # not accelerate's proxy


def test_shards_split_every_epoch_between_the_processes():
    """Processes that draw the same permutation read disjoint batches, as many each; together
    every batch but the trailing ones that would leave one process short."""
    X = np.arange(50, dtype=np.float32).reshape(-1, 1, 1, 1)
    y = np.zeros(50, np.int64)
    for count in (1, 2, 3):
        seen = []
        for index in range(count):
            batches = _training.TrainingBatches(X, y, 4, torch.device("cpu"),
                                                shard=(index, count))
            torch.manual_seed(0)
            seen.append([b[0][:, 0, 0, 0].long().tolist() for b in batches])
        torch.manual_seed(0)
        whole = [b.tolist() for b in torch.randperm(50).split(4)]   # 13 batches
        kept = len(whole) - len(whole) % count
        assert all(len(s) == kept // count for s in seen)
        assert sorted(sum(seen, [])) == sorted(whole[:kept])
        for index in range(count):
            assert seen[index] == whole[index:kept:count]


class _FakeAccelerator:
    """What the estimator reads of an accelerator before training."""
    num_processes, process_index, device = 2, 0, "cpu"

    def prepare(self, *objects):
        return objects

    def backward(self, loss):
        loss.backward()


def test_refuses_mixup_and_an_unseeded_multi_process_run():
    X, y = _two_classes()
    with pytest.raises(ValueError, match="random_state to be an int"):
        MarginEmbeddingClassifier(epochs=1, accelerator=_FakeAccelerator()).fit(X, y)
    with pytest.raises(ValueError, match="mixup is not supported with an accelerator"):
        MarginEmbeddingClassifier(epochs=1, mixup=0.2, random_state=0,
                                  accelerator=_FakeAccelerator()).fit(X, y)


def test_example_trains_one_model_over_two_processes(tmp_path):
    """`accelerate launch` on 2 CPU processes (gloo): each takes half the steps, the gradients
    are averaged (both end with the same weights), the saved model predicts without it."""
    out = tmp_path / "model.joblib"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
         "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         str(EXAMPLE), "--tiny", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = re.findall(r"process (\d) of 2 \(DistributedType.MULTI_CPU, .*\): (\d+) training "
                       r"steps, best epoch (\d+), sum of the weights (\S+)", run.stdout)
    assert sorted(int(p) for p, *_ in lines) == [0, 1], run.stdout
    (_, steps0, epoch0, w0), (_, steps1, epoch1, w1) = lines
    assert steps0 == steps1 and epoch0 == epoch1 and w0 == w1
    single = subprocess.run([sys.executable, str(EXAMPLE), "--tiny"], capture_output=True,
                            text=True, timeout=600, env=env)
    one = re.search(r"(\d+) training steps", single.stdout)
    assert one and int(steps0) < int(one.group(1))                # each process: its share
    assert "balanced accuracy" in run.stdout and out.exists()
    check = subprocess.run(
        [sys.executable, "-c", "import sys, joblib; sys.modules['accelerate'] = None; "
         f"m = joblib.load({str(out)!r}); print(m.net_.accelerator, m.accelerator)"],
        capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and check.stdout.split() == ["None", "None"], check.stderr
