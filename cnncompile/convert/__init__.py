"""`cnncompile convert`: the textbook's Python model scripts become spec files, unexecuted.

Readers of the textbook have ``.py`` files full of ``CnnExtModel.set_macro('name', [...])`` calls
and model constructions such as ``CnnRegModel('flowers_cnn_2', fd, cnn2)``. The script is read
with :mod:`ast` alone (nothing in the file runs):

- :mod:`.reader`: the file's text, positions, tokens, literals and the names bound to them;
- :mod:`.conventions`: the book's macros, models, training options and data sets;
- :mod:`.writer`: one spec per model, whose layer lists keep the book's Python-literal look;
- :mod:`.specs`: the three in order, each spec checked by loading it.

Every mistake is one line that starts ``FILE.py:LINE:COL:`` (1-based column), pointing into the
Python file.
"""

from .reader import MAX_INT_DIGITS, MAX_STRING_CHARS
from .specs import ConvertedModel, check_spec, convert_file, convert_source

__all__ = ["MAX_INT_DIGITS", "MAX_STRING_CHARS", "ConvertedModel", "check_spec",
           "convert_file", "convert_source"]
