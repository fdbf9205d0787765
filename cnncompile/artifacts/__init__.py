"""Artifacts: the contracts every stage shares when it touches files (no backend, no trainer).

Writers and locks (:mod:`.files`), weights, checkpoints and ``.npz`` data (:mod:`.weights`),
and the modules beside them. ``train``, ``backends.onnx`` and ``runtime`` build on these; this
package imports nothing from them.
"""
