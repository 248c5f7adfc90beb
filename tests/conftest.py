import os
import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_us8k(tmp_path_factory):
    """A small synthetic set written in the official UrbanSound8K layout."""
    from sklearn_metricaudio import make_urban_sounds

    root = tmp_path_factory.mktemp("synth") / "UrbanSound8K"
    return make_urban_sounds(root, n_per_class=4, n_folds=2, min_duration=0.5,
                             max_duration=1.5, random_state=0), root


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
