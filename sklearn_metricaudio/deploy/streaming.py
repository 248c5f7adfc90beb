"""Streaming prediction over long recordings: windows, events and their CSV.

A fitted pipeline that opens with an :class:`~sklearn_metricaudio.AudioLoader` classifies
clips of a few seconds. :func:`predict_stream` runs it over a recording of any length
(hours) without holding the recording in memory: the file is read block by block with
:class:`soundfile.SoundFile` into a bounded buffer, cut into overlapping windows and
classified batch by batch. :func:`stream_events` merges the windows into labelled events;
:func:`write_events_csv` writes them, atomically.

*How time is mapped.* Windows of ``window`` seconds start every ``hop`` seconds (frame
``round(k * hop * sr)`` of the file, at the file's own rate). Each window *owns* the stretch
between the midpoints of its centre and its neighbours' centres: for regular windows that is
the ``hop``-long stretch at its centre; the first window owns from its start (0 s), the last
one up to its end (the end of the recording). The owned stretches tile the recording without
gap or overlap, so an event's boundary is placed within one hop of the instant where the
windows' majority content changes (typically within half a hop: a window straddling a change
takes one side's label, its stretch ends half a hop from its centre). The default hop is
1 s (or the window, if shorter); pass a smaller one for finer boundaries, at a cost that grows
as ``window / hop``.

*The end of the recording.* Every window holds real audio only: when the recording does not
end on the end of a regular window, one last window is placed flush with the end of the
recording (it starts less than a hop after the previous one). A recording shorter than one
window gives a single window holding all of it, which the pipeline's AudioLoader pads as it
pads any short clip (its ``pad``).
"""

from __future__ import annotations

import csv
import math
import numbers
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._io import AudioDecodeError, atomic_path, resample
from ._decision import labels_and_scores, loader_of, min_clip_seconds

__all__ = ["WindowPrediction", "SoundEvent", "predict_stream", "stream_events",
           "write_events_csv"]


class WindowPrediction(NamedTuple):
    """The model's output on one window of a stream (times in seconds from the start).

    Attributes
    ----------
    start, end : float
        The window's first and one-past-last sample, in seconds.
    label : object
        ``model.predict`` on the window: one of ``model.classes_``, or an open-set model's
        unknown label.
    score : float
        The score of ``label`` in ``scores``; NaN when ``label`` is not one of
        ``model.classes_`` or no scores were asked for (``scores=None``).
    scores : ndarray of shape (n_classes,)
        ``predict_proba`` (or ``decision_function``) of the window, in the order of
        ``model.classes_`` (empty with ``scores=None``).
    """

    start: float
    end: float
    label: object
    score: float
    scores: np.ndarray


class SoundEvent(NamedTuple):
    """A run of consecutive windows with one label (times in seconds).

    Attributes
    ----------
    start, end : float
        The event's span: from the start of the stretch its first window owns to the end
        of the stretch its last window owns (see the module's notes).
    label : object
    score : float
        The mean score of ``label`` over the event's windows.
    """

    start: float
    end: float
    label: object
    score: float


def _check_positive(name, value, what="a number of seconds"):
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value <= 0):
        raise ValueError(f"{name} must be a positive finite number ({what}), got {value!r}")
    return float(value)


#: libsndfile's header log: a chunk whose declared size is larger than what the file holds
_SHORT_CHUNK = re.compile(r"^\s*(RIFF|riff|Riff size|FORM|data|SSND)\s*:\s*(\d+)\s*"
                          r"\(should be (\d+)\)", re.MULTILINE)
#: sizes that mean "unknown length" (streamed wav), not a truncation
_SIZE_SENTINELS = {0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}


def _declared_too_long(extra_info):
    """(name, declared bytes, present bytes) of a chunk cut short by truncation, or None.

    libsndfile reads a truncated wav/aiff without complaint, its frame count silently
    brought down to what the file holds; only its header log says so
    ("data : 160000 (should be 64001)"). Checked with libsndfile 1.2.
    """
    short = [(m.group(1), int(m.group(2)), int(m.group(3)))
             for m in _SHORT_CHUNK.finditer(extra_info or "")]
    short = [c for c in short if c[1] > c[2] and c[1] not in _SIZE_SENTINELS]
    # the sample data's own chunk if it is named, else the container's (w64, rf64)
    short.sort(key=lambda c: c[0] not in ("data", "SSND"))
    return short[0] if short else None


def _where(frame, sr):
    return f"{frame / sr:.3f} s (sample frame {frame})"


def predict_stream(model, path, *, window=None, hop=None, block_seconds=10.0,
                   batch_windows=16, scores="auto", progress=False):
    """Classify a long recording window by window, reading it block by block.

    Parameters
    ----------
    model : Pipeline
        A fitted scikit-learn pipeline whose first step is an
        :class:`~sklearn_metricaudio.AudioLoader` (it takes waveforms at the loader's
        ``sr``), e.g. ``AudioLoader(duration=5.0) -> LogMelPatches() ->
        MarginEmbeddingClassifier()``. Its steps but the last make the features of each
        batch once; the last step's ``predict`` gives the labels and its
        ``predict_proba`` or ``decision_function`` the scores.
    path : str or path-like
        Any file soundfile reads (wav, flac, ogg, ...), any number of channels (mixed to
        mono by averaging, as :func:`~sklearn_metricaudio._io.load_audio` does) and any
        sample rate (each window is resampled to the loader's ``sr``). Integer PCM is
        scaled to [-1, 1) as soundfile decodes it.
    window : float or None, default=None
        Window length in seconds. ``None``: the loader's ``duration`` (the clip length the
        model was trained on). It must be at most that ``duration`` (the loader would cut
        a longer window and the rest of it would be ignored) and at least what the feature
        step needs (one segment of :class:`~sklearn_metricaudio.LogMelPatches`); a shorter
        window is padded by the loader (its ``pad``) to ``duration``. Required when the
        loader's ``duration`` is None.
    hop : float or None, default=None
        Seconds between window starts, at most ``window``. ``None``: 1 s (or ``window`` if
        shorter). Event boundaries are placed within about one hop of the truth; the cost
        grows as ``window / hop``. On an hour of ESC-10 clips with 5-s windows, a 1-s hop
        labelled 79 % of the time correctly against 65 % for a 2.5-s hop, at half the
        speed (``benchmarks/RESULTS.md``).
    block_seconds : float, default=10.0
        Seconds read from the file at a time. Memory holds at most one window plus one
        block of the file's samples and ``batch_windows`` windows at the model's rate,
        whatever the recording's length.
    batch_windows : int, default=16
        Windows classified per call of the model.
    scores : {"auto", "predict_proba", "decision_function"} or None, default="auto"
        The method giving the per-class scores; "auto": ``predict_proba`` if the model
        has it, else ``decision_function``. ``None``: only ``predict`` is called (the
        margin model embeds every window once instead of twice), scores are left empty.
    progress : bool, default=False
        Show a tqdm bar (seconds of audio read) on stderr.

    Yields
    ------
    WindowPrediction
        ``(start, end, label, score, scores)`` for every window, in time order.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist (raised at the call, before any iteration).
    ValueError
        A bad ``window``, ``hop``, ``block_seconds``, ``batch_windows`` or ``scores``
        (raised at the call).
    TypeError
        ``model`` is not a pipeline opening with an AudioLoader (raised at the call).
    sklearn.exceptions.NotFittedError
        ``model`` is not fitted (raised at the call).
    AudioDecodeError
        The file cannot be opened (at the call), or it is truncated or corrupt, or holds
        NaN/inf samples: raised during iteration, *after* every window that could be read
        has been yielded, naming the file and the offset (seconds and sample frame) where
        reading stopped.

    Notes
    -----
    Each window is resampled on its own (:func:`~sklearn_metricaudio._io.resample`)
    rather than the stream block by block: the model then sees exactly what it would see
    if the stretch were a clip file of its own, as its training clips were (each
    resampled alone, edges included), and the stream's results equal the clip-by-clip
    results. The price is resampling each sample ``window / hop`` times, small next to
    the features and the network. Resampling blocks without seams would need a
    stateful filter, which scipy's ``resample_poly`` is not.

    Timing and the end of the recording are described in the module's notes
    (:mod:`sklearn_metricaudio.deploy.streaming`).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklearn_metricaudio import AudioLoader
    >>> from sklearn_metricaudio.deploy.streaming import predict_stream, stream_events
    >>> rng = np.random.default_rng(0)
    >>> level = FunctionTransformer(lambda X: np.log10(np.mean(X ** 2, axis=1, keepdims=True)))
    >>> clips = np.concatenate([0.01 * rng.standard_normal((10, 1000)),
    ...                         0.5 * rng.standard_normal((10, 1000))]).astype(np.float32)
    >>> model = make_pipeline(AudioLoader(sr=1000, duration=1.0), level, LogisticRegression())
    >>> model = model.fit(clips, ["quiet"] * 10 + ["loud"] * 10)
    >>> signal = np.concatenate([0.01 * rng.standard_normal(3000), 0.5 * rng.standard_normal(2000)])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sf.write(os.path.join(tmp, "rec.wav"), signal, 1000)
    ...     windows = list(predict_stream(model, os.path.join(tmp, "rec.wav"), hop=0.5))
    >>> [(w.start, w.end, w.label) for w in windows[:3]]
    [(0.0, 1.0, 'quiet'), (0.5, 1.5, 'quiet'), (1.0, 2.0, 'quiet')]
    >>> len(windows)
    9
    >>> [(e.start, e.end, e.label) for e in stream_events(windows)]
    [(0.0, 2.75, 'quiet'), (2.75, 5.0, 'loud')]
    """
    loader = loader_of(model)
    if window is None:
        if loader.duration is None:
            raise ValueError("window must be given (a number of seconds) when the model's "
                             "AudioLoader has duration=None")
        window = loader.duration
    window = _check_positive("window", window)
    hop = min(window, 1.0) if hop is None else _check_positive("hop", hop)
    if hop > window:
        raise ValueError(f"hop must be at most window ({window:g} s), got {hop:g} s: a larger "
                         "hop would leave stretches of the recording unclassified")
    if loader.duration is not None and window > loader.duration + 1e-9:
        raise ValueError(
            f"window must be at most the model's AudioLoader duration ({loader.duration:g} s), "
            f"got {window:g} s: the loader cuts every clip to {loader.duration:g} s, so the "
            "rest of a longer window would be ignored"
        )
    min_window = min_clip_seconds(model, loader)
    if window < min_window - 1e-9:
        raise ValueError(
            f"window must be at least {min_window:.3f} s, the shortest clip "
            f"{type(model.steps[1][1]).__name__} makes features of, got {window:g} s"
        )
    block_seconds = _check_positive("block_seconds", block_seconds)
    if (not isinstance(batch_windows, numbers.Integral) or isinstance(batch_windows, bool)
            or batch_windows < 1):
        raise ValueError(f"batch_windows must be a positive integer, got {batch_windows!r}")
    if scores not in ("auto", "predict_proba", "decision_function", None):
        raise ValueError("scores must be 'auto', 'predict_proba', 'decision_function' or None, "
                         f"got {scores!r}")
    final = model.steps[-1][1]
    if scores == "auto":
        scores = "predict_proba" if hasattr(final, "predict_proba") else "decision_function"
    if scores is not None and not hasattr(final, scores):
        raise ValueError(f"scores={scores!r}: the model's last step "
                         f"({type(final).__name__}) has no {scores}")

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: '{path}'")
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:  # LibsndfileError, RuntimeError: not a readable audio file
        raise AudioDecodeError(f"could not open audio file '{path}' at 0.000 s (sample frame "
                               f"0): {exc}. Expected a wav, flac or ogg file.") from exc
    file_sr = int(info.samplerate)
    if hop * file_sr < 1:
        raise ValueError(f"hop must be at least one sample frame of '{path}' (1/{file_sr} s), "
                         f"got {hop:g} s")
    win_frames = max(1, int(round(window * file_sr)))
    block_frames = max(1, int(round(block_seconds * file_sr)))
    return _stream(model, loader, final, scores, path, file_sr, window, hop, win_frames,
                   block_frames, int(batch_windows), progress)


def _stream(model, loader, final, method, path, file_sr, window, hop, win_frames, block_frames,
            batch_windows, progress):
    """The generator behind :func:`predict_stream` (parameters already checked)."""
    import soundfile as sf
    from tqdm.auto import tqdm

    features = model[:-1]
    classes = final.classes_
    index = {c: i for i, c in enumerate(classes.tolist())}
    pad_short = loader.duration is None  # windows must then all have one length

    def classify(batch):
        starts = [s for s, _, _ in batch]
        ends = [e for _, e, _ in batch]
        clips = [c for _, _, c in batch]
        lengths = {c.size for c in clips}
        X = np.stack(clips) if len(lengths) == 1 else clips  # the loader pads a short one
        labels, S = labels_and_scores(final, features.transform(X), method)
        for s, e, lab, row in zip(starts, ends, labels, S):
            lab = lab.item() if isinstance(lab, np.generic) else lab
            i = index.get(lab) if method is not None else None
            score = float("nan") if i is None else float(row[i])
            yield WindowPrediction(s / file_sr, e / file_sr, lab, score, row)

    def cut(buf, buf_start, start, stop):
        seg = buf[start - buf_start: stop - buf_start]
        clip = resample(seg, file_sr, loader.sr).astype(np.float32, copy=True)
        if pad_short and stop - start < win_frames:
            clip = np.pad(clip, (0, int(round(window * loader.sr)) - clip.size))
        return clip

    # the bounded buffer: mono samples from absolute frame buf_start, n_buf of them
    buf = np.empty(win_frames + block_frames, dtype=np.float32)
    buf_start = n_buf = 0
    k = 0                    # index of the next regular window
    next_start = 0           # its first frame
    last_start = None        # first frame of the latest window cut
    batch = []
    error = None
    bar = tqdm(total=None, unit="s", disable=not progress, desc=path.name)
    try:
        try:
            f = sf.SoundFile(str(path))
        except Exception as exc:
            raise AudioDecodeError(f"could not open audio file '{path}' at {_where(0, file_sr)}"
                                   f": {exc}") from exc
        with f:
            bar.total = round(f.frames / file_sr, 1) if f.frames > 0 else None
            truncated = _declared_too_long(f.extra_info)
            # mp3 frame counts can be estimates: no check against them
            declared_frames = f.frames if f.seekable() and f.format != "MP3" else 0
            block = np.empty((block_frames, f.channels), dtype=np.float32)
            pos = 0  # frames read so far
            while True:
                try:
                    got = f.read(block_frames, dtype="float32", always_2d=True, out=block)
                    n = got.shape[0]
                except Exception as exc:  # LibsndfileError: lost sync, I/O error, ...
                    # the frames decoded before the failure are in `block`: tell() says how many
                    try:
                        n = min(max(f.tell() - pos, 0), block_frames)
                    except Exception:
                        n = 0
                    error = (pos + n, f"reading failed: {exc}")
                if n:
                    mono = block[:n].mean(axis=1) if f.channels > 1 else block[:n, 0]
                    if not np.isfinite(mono).all():
                        bad = pos + int(np.flatnonzero(~np.isfinite(mono))[0])
                        n = bad - pos
                        mono = mono[:n]
                        error = (bad, "it holds NaN or infinite samples")
                    # drop what no window needs any more: keep from the next window's start,
                    # and the last win_frames (the window flush with the end may need them)
                    keep = max(buf_start, min(next_start, buf_start + n_buf - win_frames))
                    drop = keep - buf_start
                    if drop:
                        buf[: n_buf - drop] = buf[drop: n_buf]
                        buf_start, n_buf = keep, n_buf - drop
                    buf[n_buf: n_buf + n] = mono
                    n_buf += n
                    pos += n
                    bar.update(n / file_sr)
                    while next_start + win_frames <= pos:
                        batch.append((next_start, next_start + win_frames,
                                      cut(buf, buf_start, next_start, next_start + win_frames)))
                        last_start = next_start
                        k += 1
                        next_start = int(round(k * hop * file_sr))
                        if len(batch) == batch_windows:
                            yield from classify(batch)
                            batch = []
                if error is not None or n == 0:
                    break
            if error is None and pos == 0:
                error = (0, "it holds no samples (empty file)")
            if error is None and truncated is not None:
                name, declared, present = truncated
                error = (pos, f"the file is truncated: its header declares a '{name}' chunk of "
                              f"{declared} bytes, the file holds {present}")
            if error is None and 0 < declared_frames and pos < declared_frames:
                error = (pos, f"the decoder stopped before the {declared_frames} frames the "
                              "header declares")
        # the end of what could be read: one window flush with it, unless one already is
        if pos > 0:
            start = max(0, pos - win_frames)
            if last_start is None or last_start + win_frames < pos:
                batch.append((start, pos, cut(buf, buf_start, start, pos)))
        if batch:
            yield from classify(batch)
    finally:
        bar.close()
    if error is not None:
        frame, why = error
        raise AudioDecodeError(f"audio file '{path}' could not be read past "
                               f"{_where(frame, file_sr)}: {why}")


def stream_events(windows, *, min_score=None):
    """Merge runs of consecutive windows with the same label into events.

    Parameters
    ----------
    windows : iterable of WindowPrediction
        In time order, as :func:`predict_stream` yields them (a generator is consumed as
        it comes: events are yielded as soon as they end).
    min_score : float or None, default=None
        Windows whose label scores below it belong to no event: they end the event in
        progress, and the stretch they own is left out.

    Yields
    ------
    SoundEvent
        ``(start, end, label, score)``, ``score`` being the mean score of the label over
        the event's windows.

    Notes
    -----
    Each window owns the stretch between the midpoints of its centre and its neighbours'
    centres (the ``hop``-long stretch at its centre, for regular windows); the first window
    owns from its start, the last up to its end. An event spans the stretches of its
    windows, so consecutive events share their boundary and, with ``min_score=None``, the
    events tile the stream. When the window source raises (a truncated file), the error
    propagates and the event in progress is not yielded: collect the windows in a list
    first to keep it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.deploy.streaming import WindowPrediction, stream_events
    >>> w = [WindowPrediction(t, t + 2.0, lab, 0.8, np.zeros(2))
    ...      for t, lab in zip([0.0, 1.0, 2.0, 3.0], ["dog", "dog", "rain", "rain"])]
    >>> for event in stream_events(w):
    ...     print(event)
    SoundEvent(start=0.0, end=2.5, label='dog', score=0.8)
    SoundEvent(start=2.5, end=5.0, label='rain', score=0.8)
    """
    if min_score is not None and (not isinstance(min_score, numbers.Real)
                                  or math.isnan(min_score)):
        raise ValueError(f"min_score must be a number or None, got {min_score!r}")
    run = None  # [start, label, score sum, count]
    prev = None
    prev_lo = None  # start of the stretch the previous window owns
    for w in windows:
        if prev is not None:
            if w.start < prev.start:
                raise ValueError(f"windows must come in time order: a window starting at "
                                 f"{w.start:g} s follows one starting at {prev.start:g} s")
            cut = (prev.start + prev.end + w.start + w.end) / 4  # midpoint of the centres
            run = yield from _advance(run, prev, prev_lo, cut, min_score)
            prev_lo = cut
        else:
            prev_lo = w.start
        prev = w
    if prev is not None:
        run = yield from _advance(run, prev, prev_lo, prev.end, min_score)
        if run is not None:
            yield SoundEvent(run[0], prev.end, run[1], run[2] / run[3])


def _advance(run, w, lo, hi, min_score):
    """Add window ``w``, owning [lo, hi), to the current run; yield the run it ends."""
    counts = min_score is None or w.score >= min_score
    if run is not None and (not counts or w.label != run[1]):
        yield SoundEvent(run[0], lo, run[1], run[2] / run[3])
        run = None
    if not counts:
        return None
    if run is None:
        return [lo, w.label, w.score, 1]
    run[2] += w.score
    run[3] += 1
    return run


def write_events_csv(events, path):
    """Write events to a CSV file with the header ``start,end,label,score``, atomically.

    Times are written in seconds with millisecond precision, scores with 6 significant
    digits. The rows go to a temporary file beside ``path``, renamed onto ``path`` once
    complete: if ``events`` raises (a generator over a corrupt file) or writing fails,
    ``path`` is left as it was (absent, or its earlier content).

    Parameters
    ----------
    events : iterable of SoundEvent or of (start, end, label, score)
    path : str or path-like

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import csv, os, tempfile
    >>> from sklearn_metricaudio.deploy.streaming import SoundEvent, write_events_csv
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = write_events_csv([SoundEvent(0.0, 2.5, "dog", 0.8)],
    ...                            os.path.join(tmp, "events.csv"))
    ...     print(out.read_text().strip())
    start,end,label,score
    0.000,2.500,dog,0.8
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["start", "end", "label", "score"])
            for start, end, label, score in events:
                writer.writerow([f"{start:.3f}", f"{end:.3f}", label, f"{score:.6g}"])
    return path
