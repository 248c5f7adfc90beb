"""Deployment: safe model files, ONNX export, streaming prediction over long recordings.

- :func:`save_model` / :func:`load_model`: a fitted pipeline in skops' secure format, the
  networks' weights as tensors; nothing in the file is executed on load.
- :func:`export_onnx`: one ONNX graph from waveform to per-class scores (log-mel front end,
  embedding network, centroid decision); :class:`OnnxClassifier` runs it on onnxruntime.
- :func:`predict_files`: labels of a list of files, the unreadable ones named with their
  reason instead of stopping the batch;
- :func:`enroll_files`: a new class added to a fitted metric model from a few files;
- :func:`calibrate_files`: its open-set rejection calibrated on a few held-out files;
- :func:`predict_stream`: labels over time for a recording of any length, read in blocks;
  :func:`stream_events` merges them into events, :func:`write_events_csv` saves those.

Open-set rejection ("none of the known classes") is :meth:`CentroidClassifier.calibrate
<sklearn_metricaudio.CentroidClassifier.calibrate>`, or
:meth:`MarginEmbeddingClassifier.calibrate
<sklearn_metricaudio.MarginEmbeddingClassifier.calibrate>` on the distance its
``rejection_layer`` names (:func:`calibrate_files` from files); every path here rejects as
the model's own ``predict`` does, except the ONNX export, which refuses a rejection
calibrated on a block's activations.
"""

from .calibrate import calibrate_files
from .enroll import enroll_files
from .files import FilePrediction, predict_files
from .onnx_export import OnnxClassifier, export_onnx, load_onnx
from .persistence import UntrustedModelError, load_model, save_model
from .streaming import (SoundEvent, WindowPrediction, predict_stream, stream_events,
                        write_events_csv)

__all__ = [
    "save_model",
    "load_model",
    "UntrustedModelError",
    "export_onnx",
    "load_onnx",
    "OnnxClassifier",
    "predict_files",
    "FilePrediction",
    "enroll_files",
    "calibrate_files",
    "predict_stream",
    "stream_events",
    "write_events_csv",
    "WindowPrediction",
    "SoundEvent",
]
