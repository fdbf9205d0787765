"""IR-to-IR passes, one per module; each backend names the pipeline it runs.

- :func:`fold_batch_norm`: a batch norm folded into the conv/dense before it (inference).
- :func:`push_affine_forward`: a batch norm after an activation (or anything a layer before
  cannot absorb) pushed forward into the conv/dense layers after it (inference).
- :func:`fuse_activation`: an activation after a conv becomes the conv's epilogue.
- :func:`remove_dead_nodes`: nodes whose value reaches no output leave the graph.
"""

from .dead_nodes import remove_dead_nodes
from .fold_batch_norm import fold_batch_norm
from .fuse_activation import EPILOGUE_ACTIVATIONS, fuse_activation
from .pipeline import Pass, PassResult, run_passes
from .push_affine import push_affine_forward

__all__ = ["EPILOGUE_ACTIVATIONS", "Pass", "PassResult", "fold_batch_norm", "fuse_activation",
           "push_affine_forward", "remove_dead_nodes", "run_passes"]
