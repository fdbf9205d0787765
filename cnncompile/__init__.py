"""cnncompile: compile textbook layer-list CNN specs into analyses, trained weights and ONNX.

The Python API (:mod:`cnncompile.api`, docs/python-api.md) is reachable from here:
``cnncompile.load``, ``cnncompile.Model``, ``cnncompile.quantize``, ``cnncompile.predict``.
It is imported on first use, so ``import cnncompile`` (and the CLI's start) stays light.
"""

__version__ = "0.1.0"

API_NAMES = ("Model", "load", "predict", "quantize")


def __getattr__(name: str):
    if name in API_NAMES:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'cnncompile' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API_NAMES])


__all__ = ["API_NAMES", "__version__", *API_NAMES]
