# STAND-IN for the api branch; the lead replaces it with the workflow helper's module
"""Training as a library function (stand-in: today's trainer, resuming with the recorded options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..frontend.spec import Head, OutputSpec, Spec, load_spec


@dataclass
class RunResult:
    """A finished run: its folder, its checkpoint and its test figures."""

    run_dir: Path
    checkpoint: Path
    accuracy: dict[str, float]
    evaluation: object | None
    seconds: float
    files: list[Path] = field(default_factory=list)


def train_model(spec, data, out=None, *, resume=False, overwrite=False, input_shape=None,
                classes=None, options=None, hooks=None) -> RunResult:
    """Train ``spec`` on ``data`` into ``out`` (default runs/NAME) and test it."""
    from ..data.datasets import load_dataset
    from ..ir import lower
    from ..train import TrainConfig, choose_run_dir, finish, load_resume
    from ..train.checkpoint import CHECKPOINT
    from ..train.torch_loop import make_trainer

    if not isinstance(spec, Spec):
        output = OutputSpec("classes", (Head("output", classes),)) if classes else None
        spec = load_spec(spec, input_shape, output)
    graph = lower(spec)
    run_dir = choose_run_dir(spec.name, Path(out) if out is not None else None, resume,
                             overwrite=overwrite)
    ckpt = load_resume(run_dir) if resume else None
    config = (TrainConfig.from_dict(ckpt.meta["config"]).replace(options or {}) if ckpt
              else TrainConfig.from_sources(spec.train, options or {}))
    dataset = load_dataset(data, graph.input_shape, graph.heads, validation=config.validation,
                           limit=config.limit)
    trainer = make_trainer(spec, graph, dataset, config, run_dir, hooks=hooks, resume=ckpt,
                           source=str(data))
    try:
        trainer.fit()
    finally:
        trainer.engine.close()
    r = finish(trainer)
    return RunResult(run_dir, run_dir / CHECKPOINT, r.accuracy, r.evaluation, r.seconds, r.files)
