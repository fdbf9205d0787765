"""Training on the PyTorch backend: one device, or several processes with torch.distributed.

The loop is ``train/loop.py``'s, unchanged; :class:`TorchEngine` is its step engine. Every
process holds the whole data set and draws the same global batch, augmentation, dropout and
noise from the loop's NumPy generator (so every generator stays in step and a checkpoint's RNG
state resumes on either backend); each rank then computes rows ``np.array_split`` gives it.
Logits are gathered so the loss (``engine/losses.py``) is the one of the global batch, batch
norm normalises by global statistics, gradients are summed over ranks, and every rank takes the
same optimiser step: N workers compute what one process computes with the same global batch.
Rank 0 alone writes checkpoints, metrics and reports.

``--workers N`` starts N-1 processes beside this one on this machine (gloo on CPU, NCCL on
GPUs; ``backends/torch/workers.py`` starts, watches and ends them) once the trainer's checks
have passed; under ``torchrun`` (RANK and WORLD_SIZE set) the launcher has started them. A
collective that fails because a process ended raises
:class:`~cnncompile.errors.WorkerFailed` with this engine back at the step's start, so the loop
saves the last completed step as on Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..backends.numpy.losses import LossResult, loss_and_grad
from ..errors import DataError, WorkerFailed
from ..machine import usable_cpus


def resolve_device(device: str, local_rank: int = 0) -> str:
    """``auto``: the GPU when torch sees one, else the CPU; ``cuda`` fails without one
    (``device`` is one of the option table's choices)."""
    import torch

    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise DataError("--device cuda: torch sees no CUDA GPU here (a CPU-only build of torch, "
                        "or no driver); use --device cpu")
    if device == "cpu" or not cuda:
        return "cpu"
    return f"cuda:{local_rank % torch.cuda.device_count()}"


def run_worker(job: dict) -> None:
    """A started worker (rank >= 1), in the process group already: train the same run
    silently while rank 0 reports and writes. Whatever stops it reaches rank 0 as one line
    (``backends/torch/workers.py``)."""
    from ..data.datasets import load_dataset

    cfg, graph = job["config"], job["graph"]
    data = load_dataset(job["data"], graph.input_shape, graph.heads,
                        validation=cfg.validation, limit=cfg.limit)
    trainer = make_trainer(job["spec"], graph, data, cfg, job["run_dir"], resume=job["resume"],
                           source=job["data"])  # in the group already: it starts nothing
    try:
        trainer.fit()
    finally:
        trainer.engine.close()


def _is_collective_failure(e: BaseException) -> bool:
    """A collective that failed because a peer ended or timed out (not a bug in a kernel)."""
    import torch.distributed as dist

    text = str(e).lower()
    return isinstance(e, dist.DistError) or any(w in text for w in ("gloo", "nccl", "c10d"))


class TorchEngine:
    """The step engine on the PyTorch backend (see ``train/step_engine.py``)."""

    def __init__(self, graph, params: dict[str, np.ndarray], optimizer, device: str = "auto",
                 workers=None, seed: int = 0):
        import torch
        import torch.distributed as dist

        from ..backends.torch import GraphModule, TorchOptimizer
        from ..backends.torch.workers import Workers

        self.torch, self.graph = torch, graph
        self.workers = workers or Workers()
        self.device = torch.device(resolve_device(device, self.workers.local_rank))
        torch.manual_seed(seed)  # nothing draws from it while the loop's generator is set
        if self.workers.distributed and self.device.type == "cpu":
            torch.set_num_threads(max(1, usable_cpus() // self.workers.world))
        group = dist.group.WORLD if self.workers.distributed else None
        self.module = GraphModule(graph, params, sync=group).to(self.device)
        self.optimizer = TorchOptimizer.like(optimizer, self.module.named_ir_parameters())
        self._logits = None
        self._rows = slice(None)
        self._step_buffers: dict | None = None  # the running statistics at the step's start

    @property
    def writes(self) -> bool:
        return self.workers.rank == 0

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {k: v.astype(np.float32, copy=False) for k, v in self.module.ir_params().items()}

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Replace the weights. Hook for batch-norm recalibration after training: recalibrate
        ``trainer.params`` (train/recalibrate.py, on rank 0 after ``close()``), then load them
        here so the test report and the checkpoint use them."""
        self.module.load_ir_params(params)

    def _share(self, n: int) -> slice:
        """This rank's rows of a batch of ``n`` (all of them in one process)."""
        sizes = [len(b) for b in np.array_split(np.arange(n), self.workers.world)]
        start = sum(sizes[:self.workers.rank])
        return slice(start, start + sizes[self.workers.rank])

    def _to_device(self, a: np.ndarray):
        return self.torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(self.device)

    def _gather(self, local, n: int) -> np.ndarray:
        """The rows of every rank, in rank order, as one NumPy array [n, width]."""
        if not self.workers.distributed:
            return local.detach().cpu().numpy()
        import torch.distributed as dist

        sizes = [len(b) for b in np.array_split(np.arange(n), self.workers.world)]
        pad = self.torch.zeros((max(sizes),) + tuple(local.shape[1:]), dtype=local.dtype,
                               device=local.device)
        pad[:len(local)] = local.detach()
        parts = [self.torch.empty_like(pad) for _ in sizes]
        dist.all_gather(parts, pad)
        return np.concatenate([p[:s].cpu().numpy() for p, s in zip(parts, sizes, strict=True)])

    @contextmanager
    def _collectives(self) -> Iterator[None]:
        """Turn a collective that failed because a process ended into WorkerFailed, the
        running statistics back at the step's start (the weights change after the last
        collective of a step, in the optimiser's step)."""
        if not self.workers.distributed:
            yield
            return
        if self._step_buffers is None:
            self._step_buffers = {k: b.detach().clone() for k, b in self.module.named_buffers()}
        try:
            yield
        except RuntimeError as e:
            if not _is_collective_failure(e):
                raise
            with self.torch.no_grad():
                for k, b in self.module.named_buffers():
                    b.copy_(self._step_buffers[k])
            self._logits = None
            raise WorkerFailed(self.workers.failure(e)) from None

    def forward_loss(self, x, y, label_smoothing, rng) -> LossResult:
        from ..backends.torch import RandomSource

        self._step_buffers = None  # a new step: its start is taken at its first collective
        self._rows = self._share(len(x))
        self.module.train()
        self.module.random = RandomSource(rng, len(x), self._rows)
        with self._collectives():
            self._logits = self.module(self._to_device(x[self._rows]))
            logits = self._gather(self._logits, len(x))
        return loss_and_grad(self.graph.heads, logits, y, label_smoothing)

    def update(self, result: LossResult, lr: float) -> None:
        self.optimizer.zero_grad()
        with self._collectives():
            self._logits.backward(self._to_device(result.grad[self._rows]))
            self._logits = None
            if self.workers.distributed:
                self._sum_gradients()
        self.optimizer.lr = lr
        self.optimizer.step()

    def _sum_gradients(self) -> None:
        """Every rank's gradient becomes the sum over ranks (the global batch's gradient)."""
        import torch.distributed as dist

        params = [p for _, p in self.optimizer.params]
        grads = [self.torch.zeros_like(p) if p.grad is None else p.grad for p in params]
        flat = self.torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        off = 0
        for p, g in zip(params, grads, strict=True):
            p.grad = flat[off:off + g.numel()].view_as(g)
            off += g.numel()

    def logits(self, x: np.ndarray) -> np.ndarray:
        rows = self._share(len(x))
        self.module.eval()
        self._step_buffers = None
        with self.torch.no_grad(), self._collectives():
            local = self.module(self._to_device(x[rows]))
            return self._gather(local, len(x))

    def max_over_ranks(self, value: int) -> int:
        if not self.workers.distributed:
            return value
        import torch.distributed as dist

        t = self.torch.tensor([value], device=self.device)
        self._step_buffers = None
        with self._collectives():
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def describe(self) -> dict:
        return {"backend": "torch", "device": str(self.device), "workers": self.workers.world,
                "threads": self.torch.get_num_threads()}

    def close(self) -> None:
        """Leave the process group and end the workers this process started."""
        if not self.workers.distributed:
            return
        from ..backends.torch.workers import Workers

        self.workers.close()
        self.workers = Workers(local_rank=self.workers.local_rank)  # from now on, one process
        self.module.sync = None


def make_trainer(spec, graph, data, config, run_dir: Path, hooks=None, resume=None,
                 source: str | None = None):
    """The loop's Trainer on ``config.backend``: NumPy, or torch on ``config.device`` with
    ``config.workers`` processes (``source``: the ``--data`` text, which started workers load).

    The workers start when the trainer builds its engine, after its own checks (another batch
    size on resume, ...) have passed: a refused run starts no process.
    """
    from .loop import Trainer, TrainHooks

    if config.backend == "numpy":
        if config.workers > 1:
            raise DataError("--workers needs --backend torch (the NumPy engine runs in one "
                            "process)")
        return Trainer(spec, graph, data, config, run_dir, hooks=hooks, resume=resume)
    from ..backends import torch as _torch_backend  # noqa: F401  (the extra's one-line error)
    from ..backends.torch.workers import join_process_group

    if config.workers > 1 and source is None:
        raise ValueError("make_trainer: workers > 1 needs `source`, the data the workers load")

    job = None if source is None else {"spec": spec, "graph": graph, "data": source,
                                       "config": config, "run_dir": Path(run_dir),
                                       "resume": resume}

    def engine(g, params, optimizer):
        backend = "nccl" if resolve_device(config.device).startswith("cuda") else "gloo"
        workers = join_process_group(backend, config.workers, run_worker, job)
        try:
            return TorchEngine(g, params, optimizer, config.device, workers, config.seed)
        except BaseException:
            workers.close()
            raise

    trainer = Trainer(spec, graph, data, config, run_dir, hooks=hooks, resume=resume,
                      engine=engine)
    if not trainer.engine.writes:  # rank 0 alone reports
        trainer.hooks = TrainHooks()
    return trainer
