"""The report of both papers (evaluation/paper_report.py) and its resumable store.

Everything runs on a tiny synthetic set (8 classes, 3 folds, clips of 0.5-1.5 s) with one
training epoch, so that a whole report takes seconds: the figures are meaningless, what is
checked is that every table and figure is written, that the Tukey table is scipy's, and that
an interrupted run resumes without recomputing what it finished.
"""

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import tukey_hsd

from sklearn_metricaudio import make_urban_sounds
from sklearn_metricaudio.cli import main
from sklearn_metricaudio.evaluation import paper_report as pr
from sklearn_metricaudio.evaluation.store import ResultStore
from sklearn_metricaudio.models import (GaussianMixtureClassifier, MarginEmbeddingClassifier,
                                        SegmentAggregateClassifier)

#: one length, one seed, two test folds: 4 margins x 2 folds for Fig. 3
TINY = dict(lengths=(1,), seeds=1, folds=2, epochs=1, ins_seconds=0.5, ins_surrogates=5,
            augment_schemes=("none", "knn1"), augment_folds=1)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    # 2 clips per class and fold: the smallest set Algorithm 1's metric trains on
    root = tmp_path_factory.mktemp("report_synth") / "synth"
    data = make_urban_sounds(root, n_per_class=6, n_folds=3, min_duration=0.5,
                             max_duration=1.5, random_state=0)
    assert data.clip_seconds == 1.5  # the set's own length; analysed at UrbanSound8K's 4 s
    data.clip_seconds = 4.0          # (padded) for segments at every length of the grid
    return data


@pytest.fixture(scope="module")
def full_report(synth, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    res = pr.paper_report(synth, tmp / "report", grid=TINY, cache_dir=tmp / "cache",
                          n_jobs=1, progress=False, log=lambda m: None)
    return res, tmp / "report"


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_report_writes_every_table_and_figure(full_report, synth):
    res, path = full_report
    names = {p.name for p in path.iterdir()}
    expected = {"report.md", "balanced_accuracy.csv", "auc.csv",
                "tableI_gmm.csv", "tableII_svm.csv", "tableIII_cosface.csv",
                "tableI_gmm_confusion.png", "tableII_svm_confusion.png",
                "tableIII_cosface_confusion.png",
                "fig4_roc_gmm.png", "fig5_roc_svm.png", "fig6_roc_cosface.png",
                "fig3_margins_lengths.png", "fig3_grid.csv", "fig3_tukey.csv",
                "ins.csv", "augmentation.csv", "augmentation.png", "acceptance_1nn.csv"}
    assert expected <= names, sorted(expected - names)
    ins_figs = [n for n in names if n.startswith("fig1_ins_")]
    assert len(ins_figs) == len(synth.target_names) == 8
    for png in (n for n in names if n.endswith(".png")):
        assert (path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (path / "report.md").read_text()
    for text in ("Table I:", "Table II:", "Table III:", "Fig. 4", "Fig. 5", "Fig. 6",
                 "Fig. 3", "Tukey HSD", "Fig. 1", "max INS", "Acceptance ratio",
                 "Lu, Duan & Zhang"):
        assert text in md, text
    for png in (n for n in names if n.endswith((".png", ".csv"))):
        assert f"({png})" in md, f"{png} is not linked from report.md"
    # Table III: rows are the true classes in %, each summing to 100
    rows = _csv(path / "tableIII_cosface.csv")
    assert [r["true \\ predicted (%)"] for r in rows] == list(synth.target_names)
    for r in rows:
        total = sum(float(v) for k, v in r.items() if k not in ("true \\ predicted (%)", "AUC"))
        assert total == pytest.approx(100.0, abs=0.05)
    # Fig. 3: one balanced accuracy per margin x length x seed x test fold
    grid = _csv(path / "fig3_grid.csv")
    assert len(grid) == 4 * 1 * 1 * 2
    assert {r["margin"] for r in grid} == set(pr.MARGINS)
    summary = {r["model"]: float(r["balanced_accuracy_%"])
               for r in _csv(path / "balanced_accuracy.csv")}
    assert summary == pytest.approx({k: 100 * v.balanced_accuracy
                                     for k, v in res.tables.items()}, abs=0.01)


def test_tukey_table_is_scipys_on_the_grid_numbers(full_report):
    _, path = full_report
    grid = _csv(path / "fig3_grid.csv")
    groups = list(dict.fromkeys((r["margin"], r["input_seconds"]) for r in grid))
    samples = [[float(r["balanced_accuracy"]) for r in grid
                if (r["margin"], r["input_seconds"]) == g] for g in groups]
    ref = tukey_hsd(*samples)
    ci = ref.confidence_interval(0.95)
    table = _csv(path / "fig3_tukey.csv")
    assert len(table) == len(groups) * (len(groups) - 1) // 2
    for row in table:
        i = groups.index((row["margin_a"], row["input_seconds_a"]))
        j = groups.index((row["margin_b"], row["input_seconds_b"]))
        assert float(row["mean_diff"]) == pytest.approx(ref.statistic[i, j], abs=1e-12)
        assert float(row["p_value"]) == pytest.approx(ref.pvalue[i, j], abs=1e-12)
        assert float(row["ci_low"]) == pytest.approx(ci.low[i, j], abs=1e-12)
        assert float(row["ci_high"]) == pytest.approx(ci.high[i, j], abs=1e-12)
        assert row["significant"] == str(bool(ref.pvalue[i, j] < 0.05))


def test_tukey_table_by_hand_and_when_it_cannot_run():
    rows = [dict(margin=m, input_seconds=L, balanced_accuracy=a)
            for m, L, a in [("cosface", 1, .80), ("cosface", 1, .84), ("cosface", 2, .90),
                            ("cosface", 2, .92), ("softmax", 1, .50), ("softmax", 1, .54)]]
    t = pr.tukey_table(rows)
    assert t.groups == [("cosface", 1.0), ("cosface", 2.0), ("softmax", 1.0)]
    first = t.pairs[0]
    assert first.mean_diff == pytest.approx(0.82 - 0.91)
    assert [p.significant for p in t.pairs] == [
        bool(p) for p in tukey_hsd([.8, .84], [.9, .92], [.5, .54]).pvalue[np.triu_indices(3, 1)]
        < 0.05]
    assert pr.tukey_table(rows[:2]).reason == "fewer than two groups"
    assert pr.tukey_table(rows[:3]).reason == "a group holds a single training"


@pytest.fixture
def count_fits(monkeypatch):
    """Count every fit of the three model classes; optionally interrupt at fit number N."""
    state = {"fits": 0, "interrupt_at": None}

    def counting(cls):
        original = cls.fit

        def fit(self, *args, **kwargs):
            state["fits"] += 1
            if state["interrupt_at"] is not None and state["fits"] >= state["interrupt_at"]:
                raise KeyboardInterrupt("simulated Ctrl-C")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "fit", fit)

    for cls in (GaussianMixtureClassifier, SegmentAggregateClassifier,
                MarginEmbeddingClassifier):
        counting(cls)
    return state


RESUME = dict(TINY, lengths=(1,), seeds=1, folds=2)


def _files(path):
    return {p.name: p.read_bytes() for p in sorted(Path(path).iterdir())
            if p.suffix in (".csv", ".md")}


def test_interrupted_run_resumes_without_recomputing_and_gives_the_same_report(
        synth, tmp_path, count_fits):
    kw = dict(grid=RESUME, parts=("tables", "fig3"), n_jobs=1, progress=False,
              log=lambda m: None)
    # uninterrupted reference
    pr.paper_report(synth, tmp_path / "ref", cache_dir=tmp_path / "cache_ref", **kw)
    total = count_fits["fits"]
    # 3 table models x 2 folds + 4 margins x 2 folds, less cosface's cells shared with
    # Table III (same settings, same folds: trained once)
    assert total == 3 * 2 + 4 * 2 - 2

    # killed after its first fold: that fold is stored, no report, no half folder
    count_fits.update(fits=0, interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        pr.paper_report(synth, tmp_path / "report", cache_dir=tmp_path / "cache", **kw)
    assert not (tmp_path / "report").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []
    assert len(ResultStore(tmp_path / "cache" / "results")) == 1

    # restarted: everything but the finished fold, and the same report
    count_fits.update(fits=0, interrupt_at=None)
    res = pr.paper_report(synth, tmp_path / "report", cache_dir=tmp_path / "cache", **kw)
    assert count_fits["fits"] == total - 1
    assert (res.computed, res.loaded) == (total - 1, 1)
    assert _files(tmp_path / "report") == _files(tmp_path / "ref")

    # once more: nothing to fit, the report is rewritten in place, still the same
    count_fits.update(fits=0)
    pr.paper_report(synth, tmp_path / "report", cache_dir=tmp_path / "cache", **kw)
    assert count_fits["fits"] == 0
    assert _files(tmp_path / "report") == _files(tmp_path / "ref")


def test_a_changed_setting_recomputes_only_what_depends_on_it(synth, tmp_path, count_fits,
                                                              monkeypatch):
    kw = dict(parts=("tables", "fig3"), n_jobs=1, progress=False, log=lambda m: None,
              cache_dir=tmp_path / "cache")
    pr.paper_report(synth, tmp_path / "a", grid=RESUME, **kw)
    first = count_fits["fits"]
    by_class = {}
    for cls in (GaussianMixtureClassifier, SegmentAggregateClassifier,
                MarginEmbeddingClassifier):
        original = cls.fit

        def fit(self, *a, _cls=cls, _orig=original, **k):
            by_class[_cls.__name__] = by_class.get(_cls.__name__, 0) + 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(cls, "fit", fit)
    # another margin setting: the margin models train again, the MFCC baselines do not
    pr.paper_report(synth, tmp_path / "b", grid=RESUME, margin_params={"width": 0.125}, **kw)
    assert by_class == {"MarginEmbeddingClassifier": first - 4}
    # a second seed: only the new seed's cells
    by_class.clear()
    pr.paper_report(synth, tmp_path / "c", grid=dict(RESUME, seeds=2), **kw)
    assert by_class == {"MarginEmbeddingClassifier": 4 * 2}


def test_changed_features_retrain_what_reads_them(synth, tmp_path, count_fits, monkeypatch):
    # the fold keys stand for the features through the feature code, the library versions
    # and the deformations, not the arrays' content: a change there must miss the store
    kw = dict(grid=RESUME, parts=("tables", "fig3"), n_jobs=1, progress=False,
              log=lambda m: None, cache_dir=tmp_path / "cache")
    pr.paper_report(synth, tmp_path / "a", **kw)
    total = count_fits["fits"]
    count_fits.update(fits=0)
    versions = pr.library_versions()
    monkeypatch.setattr(pr, "library_versions", lambda: {**versions, "torch": "99.0"})
    pr.paper_report(synth, tmp_path / "b", **kw)
    assert count_fits["fits"] == total


def test_estimator_fingerprint_sees_nested_estimators_in_lists_of_pairs():
    from sklearn.base import BaseEstimator
    from sklearn.svm import LinearSVC

    from sklearn_metricaudio.evaluation.store import estimator_fingerprint

    class Holder(BaseEstimator):
        def __init__(self, parts=None, n_jobs=None):
            self.parts, self.n_jobs = parts, n_jobs

    def fp(C, n_jobs=None):
        return estimator_fingerprint(Holder([("svm", LinearSVC(C=C))], n_jobs=n_jobs))

    assert fp(1.0) != fp(2.0)
    assert fp(1.0) == fp(1.0, n_jobs=4)      # n_jobs splits the work, it is not the result


def test_evaluate_folds_resumes_from_its_store(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from sklearn_metricaudio.evaluation import evaluate_folds

    fits = []

    class Counting(LogisticRegression):
        def fit(self, X, y, **kwargs):
            fits.append(self.C)
            return super().fit(X, y)

    rng = np.random.default_rng(0)
    X, y, fold = rng.normal(size=(30, 4)), np.repeat([0, 1, 2], 10), np.tile([1, 2, 3], 10)
    kw = dict(store=tmp_path / "store", progress=False)
    a = evaluate_folds(Counting(), X, y, fold, **kw)
    assert len(fits) == 3 and len(ResultStore(tmp_path / "store")) == 3
    first = sorted((tmp_path / "store").glob("*/*.joblib"))   # the results of this setting
    b = evaluate_folds(Counting(), X, y, fold, **kw)
    assert len(fits) == 3                                   # every fold loaded
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.balanced_accuracy == b.balanced_accuracy
    evaluate_folds(Counting(C=0.5), X, y, fold, **kw)       # another setting: fitted again
    evaluate_folds(Counting(), X + 1, y, fold, **kw)        # other data: fitted again
    assert fits == [1.0] * 3 + [0.5] * 3 + [1.0] * 3
    with pytest.raises(ValueError, match=r"fold must hold one entry per clip \(30\), got 29"):
        evaluate_folds(Counting(), X, y, fold[:29], **kw)
    # a stored result that cannot be read is computed again, with a warning naming the file
    store = ResultStore(tmp_path / "store")
    damaged = first[0]
    damaged.write_bytes(b"not a joblib file")
    with pytest.warns(UserWarning, match=rf"stored result '{damaged}' cannot be read.*computed "
                                         "again"):
        evaluate_folds(Counting(), X, y, fold, **kw)
    assert len(store) == 9 and store.get(damaged.stem) is not None  # replaced


def test_a_failure_leaves_no_partial_report_and_keeps_the_earlier_one(synth, tmp_path,
                                                                      monkeypatch):
    kw = dict(grid=RESUME, parts=("ins",), n_jobs=1, progress=False, log=lambda m: None,
              cache_dir=tmp_path / "cache")
    pr.paper_report(synth, tmp_path / "report", **kw)
    before = _files(tmp_path / "report")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pr, "_write_ins", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        pr.paper_report(synth, tmp_path / "report", **kw)
    assert _files(tmp_path / "report") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "report"]
    with pytest.raises(RuntimeError, match="disk full"):
        pr.paper_report(synth, tmp_path / "new", **kw)
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "report"]


def test_bad_input_is_refused_up_front(synth, tmp_path):
    with pytest.raises(ValueError, match="unknown grid 'huge'"):
        pr.paper_report(synth, tmp_path / "r", grid="huge")
    with pytest.raises(ValueError, match="unknown grid field"):
        pr.check_grid({"lenghts": (1,)})
    with pytest.raises(ValueError, match="grid lengths must be seconds in"):
        pr.check_grid({"lengths": (0,)})
    with pytest.raises(ValueError, match="grid seeds must be a positive int"):
        pr.check_grid({"seeds": 0})
    with pytest.raises(ValueError, match="grid augment_schemes: unknown augmentation scheme"):
        pr.check_grid({"augment_schemes": ("none", "mixup")})
    with pytest.raises(ValueError, match="grid ins_surrogates must be a positive int"):
        pr.check_grid({"ins_surrogates": 0})
    with pytest.raises(ValueError, match="grid ins_seconds must be positive"):
        pr.check_grid({"ins_seconds": -1.0})
    with pytest.raises(ValueError, match="unknown report part"):
        pr.paper_report(synth, tmp_path / "r", parts=("tables", "fig7"))
    with pytest.raises(ValueError, match=r"it lacks \['fold'\]"):
        pr.paper_report({k: v for k, v in synth.items() if k != "fold"}, tmp_path / "r")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not a report folder"):
        pr.paper_report(synth, tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="epochs"):
        pr.paper_report(synth, tmp_path / "r", margin_params={"epochs": 0})
    assert not (tmp_path / "r").exists()


def test_input_length_covers_the_clip_with_whole_segments():
    from sklearn_metricaudio.evaluation import feature_pipeline

    for L in (1, 2, 3, 4, 5):
        dur = pr.input_duration(L, 4.0)
        assert dur >= 4.0 and dur % L == 0
        pipe = feature_pipeline("logmel", duration=dur, segment_seconds=L)
        X = pipe[1].transform(np.zeros((1, int(dur * 22050)), dtype=np.float32))
        assert X.shape[1] == dur // L


def test_cli_report_on_a_data_set(tiny_us8k, tmp_path, capsys):
    _, root = tiny_us8k
    rc = main(["evaluate", "--data", str(root), "--report", str(tmp_path / "rep"),
               "--grid", "tiny", "--epochs", "1", "--n-jobs", "1",
               "--data-home", str(tmp_path / "home")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "report written:" in out.out
    assert "kNN schemes need at least 3 folds" in out.out   # the fixture has 2 folds
    assert (tmp_path / "rep" / "report.md").is_file()
    assert len(_csv(tmp_path / "rep" / "fig3_grid.csv")) == 4 * 2 * 2 * 2


def test_cli_report_options_are_checked(tmp_path, capsys):
    assert main(["evaluate", "--grid", "tiny", "--out", str(tmp_path)]) == 2
    assert "--grid goes with --report" in capsys.readouterr().err
    assert main(["evaluate", "--report", str(tmp_path / "r"), "--augment", "none"]) == 2
    assert "--augment, --folds and --budget go without --report" in capsys.readouterr().err
    assert main(["evaluate", "--report", str(tmp_path / "r"), "--model", "svm"]) == 2
    assert "--model goes without --report" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
