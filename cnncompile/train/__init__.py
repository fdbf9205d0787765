"""Training: data sets, the loop, checkpoints, metrics, plots and evaluation.

The workflows (``cnncompile.workflows.train.train_model``, ``...evaluate.evaluate_model``) put
these together as ``cnncompile train`` and ``cnncompile evaluate`` do; the parts, by hand::

    spec = load_spec("specs/fashion_mnist/fmnist_small.yaml")
    graph = lower(spec)
    config = TrainConfig.from_sources(spec.train, {"epochs": 1, "limit": 2000})
    data = load_dataset("fashion-mnist", graph.input_shape, graph.heads, limit=config.limit)
    trainer = Trainer(spec, graph, data, config, Path("runs/demo"))
    trainer.fit()
    result = finish(trainer)            # test figures, plots, test.json
"""

from ..data.datasets import PREPROCESSING, Dataset, Split, load_dataset
from ..evaluation.evaluate import Evaluation, Predictor, engine_predictor, evaluate
from .checkpoint import Checkpoint, check_fits, read_checkpoint, save_checkpoint
from .config import TrainConfig
from .loop import DivergedError, StepInfo, Trainer, TrainHooks, TrainingInterrupted
from .run import RunResult, choose_run_dir, finish, load_resume, write_plots

__all__ = [
    "PREPROCESSING", "Checkpoint", "Dataset", "DivergedError", "Evaluation", "Predictor",
    "RunResult", "Split", "StepInfo", "TrainConfig", "TrainHooks", "Trainer",
    "TrainingInterrupted", "check_fits", "choose_run_dir", "engine_predictor", "evaluate",
    "finish", "load_dataset", "load_resume", "read_checkpoint", "save_checkpoint", "write_plots",
]
