"""Run the learning tests and the common checks as other machines of our kind would.

Usage::

    python tests/cpu_matrix.py [--seeds 0 1 2 3 4] [--capabilities default avx2 avx512]
        [--threads 1 2] [--jobs 2] [--quick] [-k EXPRESSION]
    make matrix

A user's CPU differs from yours (AMD or Intel, with or without AVX-512), and so do its float
rounding and its thread count. This runs, in fresh processes:

- the tests marked ``learning`` (they assert what a training reached) for every seed
  (``pytest --seed S``) on every ATen CPU capability this CPU has
  (``ATEN_CPU_CAPABILITY=default|avx2|avx512``). They train on one torch thread whatever the
  machine has (tests/conftest.py: a toy training's trajectory changes with the thread count,
  and N-pair once stayed on its plateau for 75 epochs on two threads), so they run once per
  seed and capability;
- scikit-learn's common checks and the transformers' explicit checks, for every capability and
  thread count (``OMP_NUM_THREADS``; they hold no seed).

``ATEN_CPU_CAPABILITY`` reaches ATen's own kernels, not oneDNN's or MKL's CPU dispatch: an
AVX-512 machine at ``avx2`` is not an AVX2-only machine (stop 33's CI ran on an AVX2-only AMD
EPYC and failed two learning tests that this matrix had passed on AVX-512 hosts). Run it on
each CPU kind you can.

``--jobs 2`` runs two of these processes at a time (each still uses its own thread count).
Each learning test records what it reached (``record_property``); the script prints, per test
and figure, the lowest and highest value over the matrix, and every failing combination.
Exit status 1 if any run failed. ``--quick``: seeds 0 and 1 and one thread count.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: scikit-learn's common checks of every estimator, and the transformers' explicit checks
#: (subset and order invariance, dtypes, layouts) at real clip lengths
COMMON = ["tests/test_transformer_checks.py", "tests/test_centroid.py::test_sklearn_common_checks",
          "tests/test_baselines.py::test_sklearn_common_checks",
          "tests/test_clip_classifiers.py::"
          "test_margin_model_passes_the_common_checks_that_fit_its_input"]


def capabilities():
    """The ATen CPU capabilities this machine can run: default, avx2, avx512."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    caps = ["default"]
    if {"avx2", "fma"} <= flags:
        caps.append("avx2")
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        caps.append("avx512")
    return caps


def run(args, env, xml):
    """One pytest process; returns (return code, seconds)."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
           f"--junitxml={xml}", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True)
    return proc.returncode, time.perf_counter() - t0, proc.stdout[-3000:]


def results(xml):
    """(test id, passed, {figure: value}) of every test case of a junit file."""
    out = []
    if not Path(xml).is_file():
        return out
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        failed = any(case.find(tag) is not None for tag in ("failure", "error"))
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        out.append((name, not failed, props))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--capabilities", nargs="+", default=None,
                    help=f"default: those of this CPU ({' '.join(capabilities())})")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="pytest processes at a time")
    ap.add_argument("--quick", action="store_true", help="seeds 0 1, one thread")
    ap.add_argument("-k", dest="keyword", default=None,
                    help="only the tests matching this pytest -k expression")
    args = ap.parse_args(argv)
    caps = args.capabilities or capabilities()
    seeds, threads = (args.seeds, args.threads) if not args.quick else ([0, 1], [1])
    tmp = Path(tempfile.mkdtemp(prefix="cpu_matrix_"))
    only = ["-k", args.keyword] if args.keyword else []
    plan = []
    for cap in caps:
        for n in threads:
            env = {"ATEN_CPU_CAPABILITY": cap, "OMP_NUM_THREADS": str(n),
                   "MKL_NUM_THREADS": str(n)}
            plan.append((f"checks {cap}/{n}t", COMMON + only, env))
        for s in seeds:    # one torch thread, set by tests/conftest.py
            plan.append((f"learning {cap} seed {s}",
                         ["-m", "learning", "--seed", str(s), *only],
                         {"ATEN_CPU_CAPABILITY": cap}))
    print(f"{len(plan)} runs: capabilities {caps}, threads {threads}, seeds {seeds}",
          flush=True)
    t0 = time.perf_counter()

    def one(i):
        label, pytest_args, env = plan[i]
        xml = tmp / f"{i}.xml"
        rc, secs, tail = run(pytest_args, env, xml)
        state = {0: "ok", 5: "nothing selected"}.get(rc, "FAILED")
        print(f"[{i + 1}/{len(plan)}] {label}: {state} ({secs:.0f} s)", flush=True)
        return label, rc, results(xml), tail

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        done = list(pool.map(one, range(len(plan))))
    figures, failures = {}, []
    for label, rc, cases, tail in done:
        if rc not in (0, 5) and not any(not ok for _, ok, _ in cases):
            failures.append((label, "pytest itself failed", tail))
        for name, ok, props in cases:
            if not ok:
                failures.append((label, name, ""))
            for key, value in props.items():
                try:
                    figures.setdefault((name, key), []).append(float(value))
                except ValueError:
                    pass
    print()
    print(f"{'test':<78}{'figure':<16}{'min':>8}{'max':>8}{'runs':>6}")
    for (name, key), values in sorted(figures.items()):
        print(f"{name[-78:]:<78}{key:<16}{min(values):>8.3f}{max(values):>8.3f}"
              f"{len(values):>6}")
    print(f"\n{len(plan)} runs in {(time.perf_counter() - t0) / 60:.1f} min; "
          f"{len(failures)} failure(s)")
    for label, name, tail in failures:
        print(f"FAILED {label}: {name}")
        if tail:
            print(tail)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
