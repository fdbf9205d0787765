"""Evaluation: predictions over a split, per-head accuracy, confusion matrices and tables.

Any predictor (the NumPy engine, an onnxruntime session) is evaluated the same way, so a
trained run, its export and its quantized model report comparable figures.
"""
