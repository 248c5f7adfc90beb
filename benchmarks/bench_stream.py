"""Streaming prediction over a long recording made of ESC-10 clips: speed, memory, accuracy.

Usage::

    python benchmarks/bench_stream.py --model PATH --data ESC10_ROOT --fold 5 --hours 1 \
        [--out DIR] [--threads 2] [--window W] [--hop H] [--block-seconds B] \
        [--batch-windows N] [--seed 0] [--no-scores]

``--model``: a joblib file of a fitted pipeline opening with an AudioLoader, e.g.
``AudioLoader(duration=5.0) -> LogMelPatches() -> MarginEmbeddingClassifier()`` trained on
ESC-10 folds 1-4. The clips of ``--fold`` (held out from that training) are shuffled (seeded)
and repeated, no clip following one of its own class, into a recording of ``--hours`` hours
at the clips' own rate (44.1 kHz, 16-bit; every clip cut, or padded with zeros, to the median
length in whole 10 ms: 5 s for ESC-10), written block by block (one clip at a time) to
``--out`` (default: a temporary folder, deleted at the end), with the true label of every
stretch. It is then streamed with :func:`~sklearn_metricaudio.deploy.streaming.predict_stream`
in a child process that does nothing else, and the events are written with
:func:`write_events_csv` (``events.csv`` next to ``truth.csv`` when ``--out`` is given).

Printed:

- real-time factor: seconds of audio per second of wall time (higher is faster), and the
  wall time per hour of audio;
- peak RSS (``ru_maxrss``) of three child processes: one that only loads the model, one
  that loads it and classifies one batch of ``--batch-windows`` windows held in memory, and
  the one that streams the whole recording (it keeps only the small per-window records);
- accuracy: the windows that coincide with one clip (the clip-level accuracy on the fold,
  for comparison with the model's own test figure); frame accuracy on a 100-ms grid, each
  frame getting the label of the window owning its centre (the stretches of
  :func:`stream_events`), scored against the clip it lies in. ESC-10 pads short clips with
  digital silence (exact zeros): frames that are digital silence have no sound to classify
  and are left out of the main figure; the figure with them (scored against their clip's
  label) and their share are printed too;
- events: counts, and the boundary error: for every true boundary (every clip boundary, as
  neighbouring clips differ in class) the distance to the nearest predicted event boundary
  (median, mean, share within one hop), and for every predicted boundary the distance to the
  nearest true one (how far spurious boundaries lie).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FRAME = 0.1  # seconds: the grid of the frame-level scores


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _child(args):
    """Run in a child process: load the model, then (by mode) nothing, one batch or the stream."""
    import joblib
    import torch

    torch.set_num_threads(args.threads)
    from sklearn_metricaudio.deploy.streaming import predict_stream

    model = joblib.load(args.model)
    out = {}
    if args.child == "batch":
        loader = model.steps[0][1]
        n = int(round((args.window or loader.duration) * loader.sr))
        X = np.random.default_rng(0).standard_normal((args.batch_windows, n)).astype(np.float32)
        model.predict(0.1 * X)
        model.predict_proba(0.1 * X)
    elif args.child == "stream":
        t0 = time.perf_counter()
        rows = [(w.start, w.end, w.label, w.score)
                for w in predict_stream(model, args.wav, window=args.window, hop=args.hop,
                                        block_seconds=args.block_seconds,
                                        batch_windows=args.batch_windows,
                                        scores=None if args.no_scores else "auto")]
        out["wall_s"] = time.perf_counter() - t0
        out["windows"] = rows
    out["peak_rss_mb"] = _peak_rss_mb()
    Path(args.result).write_text(json.dumps(out))


def _run_child(args, mode, result):
    cmd = [sys.executable, os.path.abspath(__file__), "--model", str(args.model), "--data", "-",
           "--threads", str(args.threads), "--block-seconds", str(args.block_seconds),
           "--batch-windows", str(args.batch_windows), "--child", mode, "--wav", str(args.wav),
           "--result", str(result)]
    for name in ("window", "hop"):
        if getattr(args, name) is not None:
            cmd += [f"--{name}", str(getattr(args, name))]
    if args.no_scores:
        cmd.append("--no-scores")
    subprocess.run(cmd, check=True)
    return json.loads(Path(result).read_text())


def _clip_order(labels, n, rng):
    """``n`` clip indices: shuffled passes over all clips, no clip after one of its class."""
    order = []
    while len(order) < n:
        perm = list(rng.permutation(len(labels)))
        while perm:
            prev = labels[order[-1]] if order else None
            pick = next((i for i, c in enumerate(perm) if labels[c] != prev), 0)
            order.append(perm.pop(pick))
    return order[:n]


def _build(args, data, out):
    """Write the recording clip by clip; return (sr, seconds, truth spans, silent frames)."""
    import soundfile as sf

    from sklearn_metricaudio._io import load_audio
    from sklearn_metricaudio.features.audio import fix_length

    keep = np.asarray(data.fold) == args.fold
    if not keep.any():
        raise SystemExit(f"--fold {args.fold}: no clips in {args.data} (folds: "
                         f"{sorted(set(np.asarray(data.fold).tolist()))})")
    files = np.asarray(data.filenames)[keep]
    labels = np.asarray(data.target_names)[np.asarray(data.target)[keep]]
    sr = sf.info(files[0]).samplerate
    clips = [load_audio(f, sr=sr)[0] for f in files]  # the fold's clips, decoded once
    # one length, the median's whole 10 ms (ESC-10: 5 s; most files hold 44 frames more, a
    # few are shorter or longer), so that windows of the clip length, at a hop dividing it,
    # fall on the clips; shorter clips are padded with digital silence, as ESC pads its clips
    n = int(np.median([c.size for c in clips])) // (sr // 100) * (sr // 100)
    clips = [fix_length(c, n, pad="constant") for c in clips]
    order = _clip_order(labels, int(np.ceil(args.hours * 3600 / (n / sr))), args.rng)
    spans, silent = [], []  # (start s, end s, label); per 100-ms frame: all exact zeros
    pos = 0
    with sf.SoundFile(args.wav, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for i in order:
            f.write(clips[i])
            spans.append((pos / sr, (pos + clips[i].size) / sr, labels[i]))
            pos += clips[i].size
    seconds = pos / sr
    # the silent frames, from the clips in memory (no second read of the file)
    n_frames = int(seconds / FRAME)
    silent = np.zeros(n_frames, dtype=bool)
    starts = np.array([s for s, _, _ in spans])
    idx = np.searchsorted(starts, (np.arange(n_frames) + 0.5) * FRAME, side="right") - 1
    step = int(round(FRAME * sr))
    frame_pos = (np.arange(n_frames) * FRAME * sr).round().astype(int)
    for k in range(n_frames):
        clip = clips[order[idx[k]]]
        a = frame_pos[k] - int(round(starts[idx[k]] * sr))
        seg = clip[max(a, 0): max(a, 0) + step]
        silent[k] = seg.size > 0 and not np.any(seg)
    with open(out / "truth.csv", "w") as fh:
        fh.write("start,end,label\n")
        fh.writelines(f"{s:.3f},{e:.3f},{lab}\n" for s, e, lab in spans)
    return sr, seconds, spans, silent


def _labels_on_grid(events, n_frames):
    """The label of every 100-ms frame's centre, from events that tile the recording."""
    t = (np.arange(n_frames) + 0.5) * FRAME
    ends = np.array([e.end for e in events])
    i = np.minimum(np.searchsorted(ends, t, side="right"), len(events) - 1)
    return np.array([events[j].label for j in i], dtype=object)


def _nearest(a, b):
    """Distance from every point of ``a`` to the nearest of ``b`` (sorted)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if b.size == 0:
        return np.full(a.shape, np.inf)
    j = np.clip(np.searchsorted(b, a), 1, b.size) - 1
    d = np.abs(a - b[j])
    k = np.clip(j + 1, 0, b.size - 1)
    return np.minimum(d, np.abs(a - b[k]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--data", required=True, help="the ESC-10 folder")
    parser.add_argument("--fold", type=int, default=5)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for stream.wav, truth.csv and events.csv (default: a "
                             "temporary folder, deleted at the end)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--window", type=float, default=None)
    parser.add_argument("--hop", type=float, default=None)
    parser.add_argument("--block-seconds", type=float, default=10.0)
    parser.add_argument("--batch-windows", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-scores", action="store_true",
                        help="predict only (scores=None): one pass of the network per window")
    parser.add_argument("--child", choices=["load", "batch", "stream"], help=argparse.SUPPRESS)
    parser.add_argument("--wav", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)

    from sklearn_metricaudio.datasets import load_dataset
    from sklearn_metricaudio.deploy.streaming import (WindowPrediction, stream_events,
                                                       write_events_csv)

    args.rng = np.random.default_rng(args.seed)
    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_stream.")
        out = Path(tmp.name)
    else:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
    try:
        args.wav = out / "stream.wav"
        t0 = time.perf_counter()
        sr, seconds, spans, silent = _build(args, load_dataset(args.data), out)
        print(f"recording: {seconds / 3600:.3f} h ({seconds:.0f} s, {len(spans)} clips of fold "
              f"{args.fold}) at {sr} Hz, {os.path.getsize(args.wav) / 2**20:.0f} MiB, written in "
              f"{time.perf_counter() - t0:.1f} s")
        load = _run_child(args, "load", out / "load.json")
        batch = _run_child(args, "batch", out / "batch.json")
        res = _run_child(args, "stream", out / "stream.json")
        windows = res["windows"]
        wall = res["wall_s"]
        print(f"streaming: {len(windows)} windows, {wall:.1f} s wall, {args.threads} torch "
              f"thread(s), block {args.block_seconds:g} s, {args.batch_windows} windows a batch"
              + (", predict only (no scores)" if args.no_scores else ""))
        print(f"real-time factor: {seconds / wall:.1f}x (seconds of audio per second of wall "
              f"time); {wall / seconds * 3600:.1f} s of wall time per hour of audio")
        print(f"peak RSS: model loaded {load['peak_rss_mb']:.0f} MB; one batch in memory "
              f"{batch['peak_rss_mb']:.0f} MB; streaming the whole recording "
              f"{res['peak_rss_mb']:.0f} MB (the file: "
              f"{os.path.getsize(args.wav) / 2**20:.0f} MiB)")

        # clip-level: the windows that coincide with one clip
        bounds = np.array([s for s, _, _ in spans] + [spans[-1][1]])
        ok = []
        for s, e, lab, _ in windows:
            i = np.searchsorted(bounds, s + 1e-6) - 1
            if abs(bounds[i] - s) < 1.5 / sr and abs(bounds[i + 1] - e) < 1.5 / sr:
                ok.append(lab == spans[i][2])
        if ok:
            print(f"windows that are one clip: {np.mean(ok):.1%} of {len(ok)}")

        events = list(stream_events(WindowPrediction(s, e, lab, sc, None)
                                    for s, e, lab, sc in windows))
        if args.out is not None:
            write_events_csv(events, out / "events.csv")
        n_frames = silent.size
        pred = _labels_on_grid(events, n_frames)
        t = (np.arange(n_frames) + 0.5) * FRAME
        truth = np.array([spans[i][2] for i in np.searchsorted(bounds, t, side="right") - 1],
                         dtype=object)
        hit = pred == truth
        print(f"frame accuracy (100-ms frames, digital silence left out): "
              f"{hit[~silent].mean():.1%}; with the silent frames: {hit.mean():.1%} "
              f"(silent: {silent.mean():.1%} of the frames)")

        hop = windows[1][0] - windows[0][0] if len(windows) > 1 else float("nan")
        true_b = bounds[1:-1]
        pred_b = np.array([e.start for e in events[1:]])
        d_true = _nearest(true_b, pred_b)
        d_pred = _nearest(pred_b, true_b)
        print(f"events: {len(events)} predicted, {len(spans)} clips ({true_b.size} boundaries)")
        if true_b.size:
            print(f"boundary error, true -> nearest predicted: median {np.median(d_true):.2f} s, "
                  f"mean {d_true.mean():.2f} s, within one hop ({hop:g} s): "
                  f"{np.mean(d_true <= hop + 1e-6):.1%}, within 0.5 s: "
                  f"{np.mean(d_true <= 0.5):.1%}")
        if pred_b.size:
            print(f"predicted -> nearest true: median {np.median(d_pred):.2f} s, within one hop: "
                  f"{np.mean(d_pred <= hop + 1e-6):.1%}")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
