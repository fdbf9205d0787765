"""Workflows: what each command does, as library functions that print nothing.

``train_model`` (with resume), ``evaluate_model``, ``export_model``, ``quantize_model``,
``predict_images`` and ``write_report`` take a spec (a :class:`~cnncompile.frontend.spec.Spec`
or a path) and paths, and return dataclasses with the figures. The CLI formats those figures and
the Python API (:mod:`cnncompile.api`) hands them to the user; neither holds workflow logic.
Each lives in its own module, imported on first use, so ``analyze`` stays light.
"""
