"""Scale-out on existing engines: features, folds and grid cells under any joblib backend.

The report's work (feature extraction per input length, the folds of Tables I-III, the
Fig. 3 grid cells) goes through joblib (``evaluation.store.run_jobs``), so a Dask cluster
runs it unchanged: ``with joblib.parallel_backend("dask"): ...``. Here a 2-worker
``LocalCluster`` (two processes) must give the scores of the default backend.
"""

import joblib
import numpy as np
import pytest

from sklearn_metricaudio import make_urban_sounds
from sklearn_metricaudio.evaluation.paper_report import paper_report

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GRID = dict(lengths=(1,), seeds=1, folds=2, epochs=1)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("scaleout") / "synth"
    return make_urban_sounds(root, n_per_class=3, n_folds=3, min_duration=0.5,
                             max_duration=1.5, random_state=0)


def _report(data, path, n_jobs):
    # batches of 4: enough steps in one epoch for the embedding to spread the clips apart
    return paper_report(data, path, grid=GRID, parts=("tables", "fig3"), cache_dir=None,
                        margin_params={"batch_size": 4}, n_jobs=n_jobs, progress=False,
                        log=lambda m: None)


def _same(a, b):
    """The same scores; the same labels wherever the best two scores are not tied.

    A short training on a few clips leaves the embedding partly collapsed: some clips are
    equally far from several centroids (score gaps near 1e-16), and which of the tied
    classes wins depends on the float rounding of the BLAS threads a worker has.
    """
    runs = [(f"table {k}", a.tables[k], b.tables[k]) for k in a.tables]
    runs += [(f"cell {k}", a.fig3.results[k], b.fig3.results[k]) for k in a.fig3.results]
    n_clear = 0
    for name, ra, rb in runs:
        # relative to the run's own scale (a collapsed embedding scores at 1e-9)
        np.testing.assert_allclose(ra.scores, rb.scores, rtol=1e-4,
                                   atol=1e-4 * np.abs(ra.scores).max(), err_msg=name)
        top2 = np.sort(ra.scores, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-4 * np.abs(ra.scores).max()
        np.testing.assert_array_equal(ra.y_pred[clear], rb.y_pred[clear], err_msg=name)
        if clear.all():
            assert ra.balanced_accuracy == rb.balanced_accuracy, name
        n_clear += clear.sum()
    # the comparison has teeth: most clips have a clear winner
    assert n_clear > 0.5 * sum(len(r.y_pred) for _, r, _ in runs)


def test_dask_localcluster_gets_the_scores_of_the_default_backend(synth, tmp_path):
    distributed = pytest.importorskip("distributed")
    reference = _report(synth, tmp_path / "default", n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, \
            distributed.get_task_stream(client) as stream:
        with joblib.parallel_backend("dask"):
            on_dask = _report(synth, tmp_path / "dask", n_jobs=2)
    workers = {t["worker"] for t in stream.data}   # collected when the stream closes
    # the work ran on the cluster's two worker processes: features, folds and cells
    assert len(stream.data) >= 1 + 3 * 2 + 4 * 2 - 2
    assert len(workers) == 2
    _same(reference, on_dask)


def test_loky_processes_agree_with_the_default_backend(synth, tmp_path):
    # (joblib's threading backend is left out: OpenMP's thread count is per calling thread,
    # so torch trains with the machine's default count in a joblib thread, whatever
    # torch.set_num_threads said here, and the float rounding differs as above)
    reference = _report(synth, tmp_path / "default", n_jobs=1)
    with joblib.parallel_backend("loky", n_jobs=2):
        _same(reference, _report(synth, tmp_path / "loky", n_jobs=2))


def test_run_jobs_stores_each_result_under_a_backend_without_generators(tmp_path):
    # joblib's multiprocessing backend returns no generators: the jobs run a chunk of
    # n_jobs at a time, each chunk stored before the next starts
    import operator

    from sklearn_metricaudio.evaluation.store import Job, ResultStore, fingerprint, run_jobs

    store = ResultStore(tmp_path)
    jobs = [Job(fingerprint("mul", i), operator.mul, i, 3) for i in range(5)]
    with joblib.parallel_backend("multiprocessing", n_jobs=2):
        assert run_jobs(jobs, store, n_jobs=2, progress=False) == [0, 3, 6, 9, 12]
    assert len(store) == 5
    assert run_jobs(jobs[:2] + [Job(fingerprint("mul", 9), operator.mul, 9, 3)], store,
                    progress=False) == [0, 3, 27]
    assert len(store) == 6
