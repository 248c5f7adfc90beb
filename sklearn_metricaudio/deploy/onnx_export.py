"""ONNX export of a fitted pipeline: one graph from waveform to per-class scores.

:func:`export_onnx` writes the whole inference path of a fitted
``[AudioLoader ->] LogMelPatches -> MarginEmbeddingClassifier [-> CentroidClassifier]``
pipeline as one ONNX model: the log-mel front end, the embedding network on every segment
(every window of the model's ``segment_hop``) and the nearest-centroid decision (silent
segments left out as the model leaves them out).
:class:`OnnxClassifier` runs such a file with onnxruntime and maps its scores to labels.

What stays outside the graph: decoding files, mixing to mono, resampling and cutting or
padding clips to the loader's duration (:class:`~sklearn_metricaudio.AudioLoader`'s work).
The graph takes the waveforms that step produces, float32 ``(n_clips, n_samples)`` at the
pipeline's sample rate; :class:`OnnxClassifier` applies the loader (its parameters are stored
in the file) before the graph, so it takes file names as the pipeline does.

Needs ``pip install sklearn_metricaudio[onnx]`` (onnx, onnxruntime, onnxscript).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import warnings
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._io import atomic_path

__all__ = ["export_onnx", "OnnxClassifier", "load_onnx"]

#: Graph input and outputs.
INPUT_NAME = "waveform"
OUTPUT_NAMES = ("scores", "distances")

_SUPPORTED = ("[AudioLoader ->] LogMelPatches -> MarginEmbeddingClassifier "
              "[-> CentroidClassifier]")
_FORMAT = "sklearn_metricaudio.onnx/1"


def _require_onnx(*modules):
    """Import the ONNX packages lazily, with a message that says how to install them."""
    import importlib

    out = []
    for name in modules:
        try:
            out.append(importlib.import_module(name))
        except ImportError as exc:
            raise ImportError(
                f"ONNX export and inference need the '{name}' package, which is not "
                f"installed: pip install sklearn_metricaudio[onnx]") from exc
    return out[0] if len(out) == 1 else out


# ---------------------------------------------------------------------- pipeline parsing
def _pipeline_parts(pipe):
    """The steps of a supported pipeline: ``dict(loader, logmel, margin, centroid)``.

    ``centroid`` is the CentroidClassifier that decides (the margin model's own, or the
    final step of an enrollment pipeline); ``masked`` says whether silent segments are left
    out (whenever the margin model has a ``silence_db``: its ``transform`` leaves them NaN).
    """
    from ..features import AudioLoader, LogMelPatches
    from ..models import CentroidClassifier, MarginEmbeddingClassifier

    if not isinstance(pipe, Pipeline):
        raise TypeError(
            f"export_onnx takes a fitted sklearn.pipeline.Pipeline {_SUPPORTED}, got "
            f"{type(pipe).__name__}: the log-mel front end must be part of the pipeline")
    steps = [(name, est) for name, est in pipe.steps if est not in (None, "passthrough")]
    expected = [AudioLoader, LogMelPatches, MarginEmbeddingClassifier, CentroidClassifier]
    kinds = []
    for i, (name, est) in enumerate(steps):
        kind = next((k for k in expected if type(est) is k), None)
        if kind is None:
            raise ValueError(
                f"export_onnx cannot export step {i} '{name}' ({type(est).__name__}): the "
                f"supported pipelines are {_SUPPORTED}")
        kinds.append(kind)
    start = 1 if kinds[:1] == [AudioLoader] else 0
    if kinds[start:start + 2] != [LogMelPatches, MarginEmbeddingClassifier] or \
            kinds[start + 2:] not in ([], [CentroidClassifier]):
        layout = " -> ".join(f"{n} ({type(e).__name__})" for n, e in steps)
        raise ValueError(
            f"export_onnx cannot export the pipeline {layout}: the supported pipelines are "
            f"{_SUPPORTED}, in that order")
    loader = steps[0][1] if start else None
    logmel, margin = steps[start][1], steps[start + 1][1]
    final = steps[start + 2][1] if len(steps) > start + 2 else None
    check_is_fitted(margin)
    if final is not None:
        check_is_fitted(final)
    logmel._validate_params()
    if loader is not None:
        loader._validate_params()
        if int(loader.sr) != int(logmel.sr):
            raise ValueError(
                f"AudioLoader(sr={loader.sr}) and LogMelPatches(sr={logmel.sr}) disagree on "
                "the sample rate; export_onnx needs them equal")
    if final is not None and (margin.transform_layer != "embedding"
                              or final.centroids_.shape[-1] != margin.embedding_dim):
        raise ValueError(
            f"export_onnx exports the embedding network, but this pipeline's "
            f"MarginEmbeddingClassifier has transform_layer={margin.transform_layer!r}: its "
            f"CentroidClassifier holds {final.centroids_.shape[-1]}-d vectors, not its "
            f"{margin.embedding_dim}-d embeddings. Export a pipeline whose centroids were "
            "fitted on the embeddings (transform_layer='embedding')")
    if final is None and margin._rejection_threshold() is not None:
        raise ValueError(
            f"export_onnx cannot export this MarginEmbeddingClassifier's open-set rejection: "
            f"it was calibrated on the activations of block {margin.rejection_block_} "
            f"(rejection_layer={margin.rejection_layer!r}), which the graph does not compute. "
            "Export the model before calibrate (no rejection), or fit it with "
            "rejection_layer='embedding' and calibrate that")
    if margin.n_features_in_ != logmel.n_mels:
        raise ValueError(
            f"MarginEmbeddingClassifier was fitted on {margin.n_features_in_} mel bands but "
            f"LogMelPatches makes {logmel.n_mels}")
    return dict(loader=loader, logmel=logmel, margin=margin,
                centroid=margin.centroid_ if final is None else final,
                masked=margin.silence_db is not None)  # transform leaves silence missing


# ---------------------------------------------------------------------- torch modules
def _torch_modules():
    """Build the torch modules on first use (torch is imported lazily, like the ONNX packages)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class LogMelFrontEnd(nn.Module):
        """Waveforms (n_clips, n_samples) -> log-mel patches (n_clips, n_segments, n_mels, f).

        ``LogMelPatches``'s conventions (librosa's): periodic Hann window of ``n_fft``,
        ``center=True`` with zero padding, Slaney mel bank, ``10 log10(max(S, 1e-10))``,
        non-overlapping segments of ``f`` frames, leftover frames dropped; with ``window_hop``
        below ``f``, those segments' frames re-cut into ``f``-frame windows every
        ``window_hop`` frames (the margin model's ``segment_hop``).

        The STFT is written by hand with Conv and MatMul, which every ONNX backend runs:
        ONNX's STFT operator (opset 17) is not supported everywhere (runtimes, converters,
        accelerators differ), and ``torch.stft`` exports to it. A direct DFT (one strided
        convolution with the windowed cos/sin basis) costs ``n_fft`` multiply-adds per bin
        and frame (two thirds of the whole graph's time in onnxruntime at the defaults); so
        where ``n_fft = n1 * n2`` with ``n2`` dividing ``hop_length``, it is one Cooley-Tukey
        step instead (the ``n1``-point DFTs of the frames' ``n2`` polyphase components as one
        MatMul, then ``n2``-point DFTs with the twiddle factors folded in, as a batched MatMul):
        about ``2 n_fft (n1 + n2)`` multiply-adds per frame instead of ``n_fft**2``, 8 times
        fewer at ``n_fft=1024`` (2.4 times faster in onnxruntime on one CPU thread).
        """

        def __init__(self, sr, n_fft, hop_length, n_mels, fmin, fmax, frames_per_segment,
                     window_hop=None):
            super().__init__()
            from ..features._spectral import _mel_basis_np

            N = self.n_fft = int(n_fft)
            self.hop_length = int(hop_length)
            self.n_mels, self.frames = int(n_mels), int(frames_per_segment)
            self.window_hop = self.frames if window_hop is None else int(window_hop)
            self.n_bins = N // 2 + 1
            window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N) / N)  # periodic Hann
            mel = _mel_basis_np(int(sr), N, self.n_mels, float(fmin),
                                None if fmax is None else float(fmax)).astype(np.float64)
            n2 = _radix(N, self.hop_length)
            self.n2 = n2
            if n2 is None:  # direct DFT: one strided conv1d, (2 n_bins, 1, n_fft)
                angle = 2 * np.pi * np.outer(np.arange(self.n_bins), np.arange(N)) / N
                basis = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])
                self.register_buffer("dft", _f32(basis[:, None, :]))
            else:
                n1 = self.n1 = N // n2
                k2 = self.k2 = n2 // 2 + 1  # bins k = k1 + n1 * k2 up to n_fft / 2 and a few
                # sample n = n2 m + p of a frame: stage 1 is the n1-point DFT over m of each
                # polyphase component p, the window applied to the frames before it
                m = np.arange(n1)
                angle = 2 * np.pi * np.outer(m, m) / n1  # (k1, m)
                self.register_buffer("stage1", _f32(np.concatenate([np.cos(angle),
                                                                    -np.sin(angle)])))
                self.register_buffer("window", _f32(window.reshape(n1, 1, n2)))  # (m, 1, p)
                # stage 2, one matrix per k1 (twiddles folded in):
                # X[k1 + n1 k2] = sum_p Y[k1, p] e^{-i theta}, theta = 2 pi p (k1 + n1 k2) / N;
                # Re X = sum Re Y cos + Im Y sin, Im X = sum Im Y cos - Re Y sin
                p = np.arange(n2)
                k = np.arange(n1)[:, None, None] + n1 * np.arange(k2)[None, None, :]
                theta = 2 * np.pi * p[None, :, None] * k / N  # (k1, p, k2)
                c, s_ = np.cos(theta), np.sin(theta)
                stage2 = np.stack([np.concatenate([c, -s_], axis=2),   # applied to Re Y
                                   np.concatenate([s_, c], axis=2)])   # applied to Im Y
                self.register_buffer("stage2", _f32(stage2))  # (2, n1, n2, 2 k2)
                # the power comes out in bin order k = k2 * n1 + k1 up to n1 * k2 > n_bins:
                # the mel bank gets zero weights for the bins past n_fft / 2
                mel = np.pad(mel, ((0, 0), (0, n1 * k2 - self.n_bins)))
            self.register_buffer("mel", _f32(mel.T))  # (bins, n_mels)

        def power(self, padded):
            """|STFT|^2 of zero-padded signals (clips, samples), (clips, frames, bins)."""
            n_clips = padded.shape[0]
            if self.n2 is None:
                spec = F.conv1d(padded[:, None, :], self.dft, stride=self.hop_length)
                spec = spec.square()
                return (spec[:, : self.n_bins] + spec[:, self.n_bins:]).transpose(1, 2)
            n1, n2, k2 = self.n1, self.n2, self.k2
            # polyphase layout (clips, n_poly, p); the trailing samples fill no frame.
            # No -1 in reshapes: torch.export then keeps the sizes symbolic.
            n_poly = padded.shape[1] // n2
            poly = padded[:, : n_poly * n2].reshape(n_clips, n_poly, n2)
            stride = self.hop_length // n2
            n_frames = (n_poly - n1) // stride + 1
            # frames as (clips, m, frames, p), windowed: sample n2 m + p of frame t
            index = torch.arange(n1)[:, None] + stride * torch.arange(n_frames)[None, :]
            frames = poly[:, index] * self.window
            # stage 1: one MatMul, (2 n1, n1) @ (clips, m, frames * p) -> [Re, Im] Y
            y = (self.stage1 @ frames.reshape(n_clips, n1, n_frames * n2))
            # stage 2: batched over (re/im, k1), summed over re/im -> (clips, k1, frames, 2 k2)
            x = (y.reshape(n_clips, 2, n1, n_frames, n2) @ self.stage2).sum(dim=1)
            power = x[..., :k2].square() + x[..., k2:].square()  # (clips, k1, frames, k2)
            return power.permute(0, 2, 3, 1).reshape(n_clips, n_frames, k2 * n1)

        def forward(self, waveform):
            half = self.n_fft // 2
            padded = F.pad(waveform, (half, half))  # center=True, zero padding
            mel = self.power(padded) @ self.mel  # (clips, frames, mels)
            logmel = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
            n_clips, n_frames = logmel.shape[0], logmel.shape[1]
            n_seg = n_frames // self.frames
            patches = logmel[:, : n_seg * self.frames]
            if self.window_hop < self.frames:  # overlapping windows over those frames
                n_win = (n_seg * self.frames - self.frames) // self.window_hop + 1
                index = (self.window_hop * torch.arange(n_win)[:, None]
                         + torch.arange(self.frames)[None, :])
                return patches[:, index].transpose(2, 3)  # (clips, windows, mels, frames)
            patches = patches.reshape(n_clips, n_seg, self.frames, self.n_mels)
            return patches.transpose(2, 3)

    class CentroidGraph(nn.Module):
        """Waveforms -> (scores, distances), the pipeline's ``decision_function`` and its
        mean segment distances, (n_clips, n_classes) both."""

        def __init__(self, front_end, net, centroids, metric, silence_db):
            super().__init__()
            self.front_end, self.net = front_end, net
            self.metric = metric
            self.silence_db = None if silence_db is None else float(silence_db)
            self.register_buffer("centroids", torch.as_tensor(centroids, dtype=torch.float32))

        def forward(self, waveform):
            patches = self.front_end(waveform)  # (clips, segments, mels, frames)
            n_clips, n_seg = patches.shape[0], patches.shape[1]
            # every segment of every clip in one batch
            emb = self.net(patches.reshape(n_clips * n_seg, 1, *patches.shape[2:]))
            emb = emb.reshape(n_clips, n_seg, -1)
            if self.metric == "cosine":  # centroids are stored L2-normalised
                unit = emb / torch.clamp(emb.norm(dim=-1, keepdim=True), min=1e-12)
                d = 1.0 - unit @ self.centroids.T
            else:  # the difference, not |z|^2 - 2 z.c + |c|^2: no cancellation in float32
                d = (emb[:, :, None, :] - self.centroids).norm(dim=-1)
            if self.silence_db is None:
                dist = d.mean(dim=1)
            else:
                loudest = patches.amax(dim=(2, 3))  # (clips, segments)
                counted = loudest > self.silence_db
                # a clip without a sounding segment counts all of them
                counted = counted | ~counted.any(dim=1, keepdim=True)
                weight = counted.to(d.dtype)
                dist = (d * weight[..., None]).sum(dim=1) / weight.sum(dim=1, keepdim=True)
            return -dist, dist

    return LogMelFrontEnd, CentroidGraph


def _f32(a):
    import torch

    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)


def _radix(n_fft, hop_length):
    """The factor ``n2`` of ``n_fft = n1 * n2`` for one Cooley-Tukey step, or None (direct DFT).

    ``n2`` must divide ``hop_length`` too (frames then start on whole polyphase samples);
    the divisor of ``gcd(n_fft, hop_length)`` nearest ``sqrt(n_fft)`` from below keeps the two
    stages' work ``2 n_fft (n1 + n2)`` near its least. Below 4 the saving is not worth it.
    """
    from math import gcd, isqrt

    g = gcd(int(n_fft), int(hop_length))
    best = max((d for d in range(1, isqrt(int(n_fft)) + 1) if g % d == 0), default=1)
    return best if best >= 4 else None


def _front_end(logmel, margin=None):
    """The graph's log-mel front end; with the ``margin`` model, its windows
    (``segment_hop``)."""
    LogMelFrontEnd, _ = _torch_modules()
    f = logmel.frames_per_segment
    return LogMelFrontEnd(logmel.sr, logmel.n_fft, logmel.hop_length, logmel.n_mels,
                          logmel.fmin, logmel.fmax, f,
                          window_hop=None if margin is None else margin._hop_frames(f)).eval()


def _bare_net(margin):
    """The fitted embedding network, copied onto the CPU in eval mode."""
    from ..models import _training

    module = copy.deepcopy(_training.bare_module(margin.net_.module_))
    return module.to("cpu").float().eval()


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's chatter: torchvision-op registration notes, deprecations."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _to_onnx(module, n_samples, min_samples, output_names, opset_version=None):
    """Export ``module`` (waveforms in) to an ``onnx.ModelProto``, batch and sample axes dynamic.

    The torch.export-based exporter (``dynamo=True``, torch's default since 2.9; it needs
    onnxscript): the TorchScript exporter is deprecated and due for removal, and
    ``torch.export``'s symbolic shapes carry the sample axis through ``n_segments =
    n_frames // f`` cleanly. The proto is returned rather than written, so that metadata
    can be added and the file written once (no external-data side file).
    """
    import torch

    _require_onnx("onnx", "onnxscript")
    example = torch.zeros(2, int(n_samples), dtype=torch.float32)
    example[:, ::7] = 0.1  # not all silence: no value-dependent shortcut can be taken
    batch = torch.export.Dim("n_clips")
    samples = torch.export.Dim("n_samples", min=int(min_samples))
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            module, (example,), None, dynamo=True, input_names=[INPUT_NAME],
            output_names=list(output_names), dynamic_shapes=({0: batch, 1: samples},),
            opset_version=opset_version, external_data=False, verbose=False)
    return program.model_proto


def _set_metadata(proto, items):
    """``metadata_props`` from a dict: every value JSON-encoded (strings too), one rule for
    whatever reads the file."""
    del proto.metadata_props[:]
    for key, value in items.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)


def _unknown_label(centroid):
    """What the calibrated classifier predicts for a rejected clip (CentroidClassifier's rule:
    ``unknown_label``, or "unknown" for string classes and -1 for numeric ones)."""
    unknown = getattr(centroid, "unknown_label", None)
    if unknown is None:
        unknown = "unknown" if np.asarray(centroid.classes_).dtype.kind in "OUS" else -1
    return _json_label(unknown)


def _json_label(value):
    """A label as JSON-able Python (numpy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


def _write(proto, path):
    """Check the model and write it atomically (a temporary file beside ``path``, renamed)."""
    onnx = _require_onnx("onnx")
    onnx.checker.check_model(proto)
    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
    return path


# ---------------------------------------------------------------------- export
def export_onnx(pipe, path, *, opset_version=None):
    """Write a fitted pipeline as one ONNX graph, waveform in, per-class scores out.

    The graph holds the log-mel front end of :class:`~sklearn_metricaudio.LogMelPatches`
    (the STFT written with MatMul and Conv, no STFT operator; then the mel bank and dB), the
    embedding network of :class:`~sklearn_metricaudio.MarginEmbeddingClassifier` on every
    segment (every window, as the model re-cuts them: ``segment_hop``), and the centroid
    decision: the mean distance of each clip's segments to every
    class centroid, leaving out segments quieter than the model's ``silence_db`` when the
    margin model's ``silence_db`` is set. A pipeline ending in a
    :class:`~sklearn_metricaudio.CentroidClassifier` (enrollment) is decided by that
    classifier's centroids and metric, its silent segments left out as well (the margin
    model's ``transform`` leaves them missing), as the pipeline decides.

    Input ``waveform``: float32 ``(n_clips, n_samples)`` at the pipeline's sample rate, what
    :class:`~sklearn_metricaudio.AudioLoader` produces; decoding files, resampling and
    cutting or padding to the loader's ``duration`` are not in the graph (use
    :class:`OnnxClassifier`, which applies the loader first). Both axes are dynamic; clips
    must hold at least one whole segment (``metadata["min_samples"]``).

    Outputs, both ``(n_clips, n_classes)`` float32 in the order of ``classes``:
    ``scores``, the pipeline's ``decision_function`` (negated mean distances; for two classes
    scikit-learn returns the 1-D difference ``scores[:, 1] - scores[:, 0]``, the graph always
    the full matrix; :meth:`OnnxClassifier.decision_function` returns what scikit-learn
    does), and ``distances``, the mean distances.

    The model's ``metadata_props`` hold, each value JSON-encoded: ``classes`` (the label of
    each column), ``classes_dtype``, ``metric``, ``silence_db`` (null when every segment counts),
    ``sample_rate``, ``min_samples``, ``n_samples`` (the loader's fixed length, or null),
    ``audio_loader`` (its parameters, or null), ``threshold`` and ``unknown_label`` (the
    open-set rejection of a calibrated CentroidClassifier: a clip whose smallest mean
    distance exceeds ``threshold`` is predicted as ``unknown_label``; both null when not
    calibrated) and ``format``.

    Parameters
    ----------
    pipe : sklearn.pipeline.Pipeline
        Fitted ``[AudioLoader ->] LogMelPatches -> MarginEmbeddingClassifier
        [-> CentroidClassifier]``.
    path : str or path-like
        Where to write the ``.onnx`` file (one file: weights inside). Written to a
        temporary file beside it and renamed, so a failure leaves ``path`` as it was.
    opset_version : int or None, default=None
        ONNX opset; None takes torch's default.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError, ValueError
        ``pipe`` is not a Pipeline, or has a step other than the supported ones (the
        message names the step and its class).
    sklearn.exceptions.NotFittedError
        The pipeline is not fitted.
    ImportError
        onnx or onnxscript is missing.

    Notes
    -----
    Exported with ``torch.onnx.export(dynamo=True)`` (torch.export), which takes a few
    seconds; see ``_to_onnx`` for why not the TorchScript exporter. Scores agree with the
    pipeline's to float32 round-off (about 1e-6 on ESC-10).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_metricaudio import LogMelPatches, MarginEmbeddingClassifier
    >>> from sklearn_metricaudio.deploy.onnx_export import export_onnx, OnnxClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = 0.1 * rng.standard_normal((8, 8000)).astype(np.float32)
    >>> X[4:] *= np.sin(np.arange(8000) / 4)                   # class 1: modulated
    >>> y = np.repeat(["hiss", "buzz"], 4)
    >>> pipe = make_pipeline(LogMelPatches(sr=8000, n_mels=32, segment_seconds=0.25),
    ...                      MarginEmbeddingClassifier(epochs=8, batch_size=8,
    ...                                                validation_split=None, random_state=0))
    >>> pipe = pipe.fit(X, y)
    >>> path = export_onnx(pipe, tempfile.mkdtemp() + "/model.onnx")
    >>> model = OnnxClassifier(path)
    >>> bool(np.allclose(model.decision_function(X), pipe.decision_function(X), atol=1e-4))
    True
    >>> bool((model.predict(X) == pipe.predict(X)).all())
    True
    >>> model.classes_.tolist()
    ['buzz', 'hiss']
    """
    parts = _pipeline_parts(pipe)
    logmel, margin, centroid, loader = (parts[k] for k in ("logmel", "margin", "centroid",
                                                             "loader"))
    _, CentroidGraph = _torch_modules()
    centers = np.asarray(centroid.centroids_, dtype=np.float64)
    if centroid.metric == "cosine":  # as CentroidClassifier._distances prepares them
        centers = centers / np.maximum(np.linalg.norm(centers, axis=-1, keepdims=True), 1e-12)
    silence_db = margin.silence_db if parts["masked"] else None
    graph = CentroidGraph(_front_end(logmel, margin), _bare_net(margin), centers, centroid.metric,
                          silence_db).eval()
    min_samples = logmel.min_samples
    n_samples = None if loader is None else loader.n_samples
    example_samples = max(n_samples or 0, min_samples, 2 * logmel.frames_per_segment
                          * logmel.hop_length)
    proto = _to_onnx(graph, example_samples, min_samples, OUTPUT_NAMES, opset_version)
    threshold = getattr(centroid, "threshold_", None)
    classes = np.asarray(centroid.classes_)
    _set_metadata(proto, {
        "format": _FORMAT,
        "classes": [_json_label(c) for c in classes.tolist()],
        "classes_dtype": classes.dtype.str if classes.dtype.kind != "O" else "object",
        "metric": centroid.metric,
        "silence_db": silence_db,
        "sample_rate": int(logmel.sr),
        "min_samples": min_samples,
        "n_samples": n_samples,
        "audio_loader": None if loader is None else {
            k: _json_label(v) for k, v in loader.get_params().items() if k != "n_jobs"},
        "threshold": None if threshold is None else float(threshold),
        "unknown_label": None if threshold is None else _unknown_label(centroid),
        "outputs": {"scores": "negated mean segment distances (decision_function), "
                              "(n_clips, n_classes)",
                    "distances": "mean segment distances, (n_clips, n_classes)"},
    })
    proto.producer_name = "sklearn_metricaudio"
    proto.doc_string = (f"{_SUPPORTED}: waveform (n_clips, n_samples) float32 at "
                        f"{logmel.sr} Hz -> scores, distances (n_clips, n_classes)")
    return _write(proto, path)


# ---------------------------------------------------------------------- runtime
class OnnxClassifier:
    """Run a model written by :func:`export_onnx` with onnxruntime.

    Parameters
    ----------
    path : str or path-like
        The ``.onnx`` file.
    n_threads : int or None, default=None
        onnxruntime's intra-op threads (None: its default, all cores).
    batch_size : int, default=4
        Clips per run of the graph. Small runs keep the front end's intermediates in the
        CPU's cache: on one thread, runs of 4 clips of 4-5 s took less time per clip
        (15-30 % measured) than one run of 32, as ``LogMelPatches`` batches by 4 on the CPU.
    providers : list of str or None, default=None
        onnxruntime execution providers (None: the CPU).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    metadata_ : dict
        The model's metadata, JSON decoded (see :func:`export_onnx`).
    threshold_ : float or None
        Open-set rejection threshold on the smallest mean distance, if calibrated.

    Examples
    --------
    See :func:`export_onnx`.
    """

    def __init__(self, path, *, n_threads=None, batch_size=4, providers=None):
        ort = _require_onnx("onnxruntime")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: '{self.path}'")
        options = ort.SessionOptions()
        if n_threads is not None:
            options.intra_op_num_threads = int(n_threads)
            options.inter_op_num_threads = 1
        self.session_ = ort.InferenceSession(str(self.path), options,
                                             providers=providers or ["CPUExecutionProvider"])
        raw = self.session_.get_modelmeta().custom_metadata_map
        if raw.get("format") != json.dumps(_FORMAT):
            raise ValueError(f"'{self.path}' was not written by export_onnx (no "
                             f"'format': '{_FORMAT}' in its metadata)")
        self.metadata_ = meta = {key: json.loads(value) for key, value in raw.items()}
        dtype = meta["classes_dtype"]
        self.classes_ = np.asarray(meta["classes"], dtype=object if dtype == "object" else dtype)
        self.threshold_ = meta.get("threshold")

    def _waveforms(self, X):
        """File names or waveforms -> the graph's input, as the pipeline's loader makes it."""
        params = self.metadata_.get("audio_loader")
        if params is not None:
            from ..features import AudioLoader

            return AudioLoader(**params).transform(X)
        from ..features._base import check_waveforms

        return np.ascontiguousarray(check_waveforms(self, X), dtype=np.float32)

    def _run(self, X):
        X = self._waveforms(X)
        need = self.metadata_["min_samples"]
        if X.shape[1] < need:
            raise ValueError(f"clips of {X.shape[1]} samples are too short: the model needs at "
                             f"least {need} samples (one whole segment)")
        runs = [self.session_.run(list(OUTPUT_NAMES), {INPUT_NAME: X[i:i + self.batch_size]})
                for i in range(0, X.shape[0], self.batch_size)]
        return tuple(np.concatenate(out) for out in zip(*runs))

    def mean_distances(self, X):
        """Mean segment distance of each clip to each class centroid, (n_clips, n_classes)."""
        return self._run(X)[1]

    def decision_function(self, X):
        """The pipeline's ``decision_function``: negated mean distances, (n_clips, n_classes),
        or for two classes the 1-D ``scores[:, 1] - scores[:, 0]`` as scikit-learn."""
        scores = self._run(X)[0]
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X):
        """The class of the nearest centroid; with a calibrated ``threshold_``, clips whose
        smallest mean distance exceeds it get ``metadata_["unknown_label"]``, as the
        calibrated pipeline predicts."""
        from ..models.centroid import nearest_labels

        unknown = None if self.threshold_ is None else self.metadata_["unknown_label"]
        return nearest_labels(self.mean_distances(X), self.classes_, threshold=self.threshold_,
                              unknown_label=unknown)


def load_onnx(path, **kwargs):
    """Load a model written by :func:`export_onnx`: ``OnnxClassifier(path, **kwargs)``."""
    return OnnxClassifier(path, **kwargs)
