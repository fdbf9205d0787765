"""More backends of the IR besides the NumPy engine, each imported only when asked for.

- :mod:`cnncompile.backends.torch`: the IR as a PyTorch ``nn.Module`` with the textbook's exact
  semantics and the IR's parameter names (GPU and multi-process training); needs the extra
  ``cnncompile[torch]``.

A backend reads the IR (graph, ops, window geometry) and nothing above it; the trainer in
``cnncompile.train`` drives it through the same step interface as the NumPy engine.
"""
