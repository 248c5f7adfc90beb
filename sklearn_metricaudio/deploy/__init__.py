"""Deployment: safe model files, ONNX export, streaming prediction over long recordings."""

from .persistence import UntrustedModelError, load_model, save_model

__all__ = ["save_model", "load_model", "UntrustedModelError"]
