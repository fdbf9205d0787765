"""Running exported models: onnxruntime sessions, provider choice, preprocessing from metadata.

``OnnxModel(path, provider="auto")`` is the entry point (``predict``, ``predict_images``,
``metadata``, ``heads``, ``input_shape``); ``bench`` times it against the NumPy engine.
"""

from .model import OnnxModel, read_metadata
from .session import Session, open_session

__all__ = ["OnnxModel", "Session", "open_session", "read_metadata"]
