"""cnncompile: compile textbook layer-list CNN specs into analyses, trained weights and ONNX."""

__version__ = "0.1.0"
