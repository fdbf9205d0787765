"""Front end: spec files in, a validated, macro-expanded, typed layer tree out."""

from .spec import Head, OutputSpec, Spec, load_spec, parse_input_shape, parse_spec

__all__ = ["Head", "OutputSpec", "Spec", "load_spec", "parse_input_shape", "parse_spec"]
