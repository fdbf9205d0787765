"""What a benchmark figure was measured on: the machine's own BLAS kernel, its threads, the load.

Every benchmark calls :func:`use_native_kernel` first, and prints :func:`describe` beside each
block of figures, so a figure always says which BLAS kernel computed it and how busy the
machine was.

On some processors the environment sets ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``: older
OpenBLAS builds compute wrong results (or crash) with the kernel they would pick there. A
current numpy runs slower with the forced kernel, so a benchmark run under them measures what
no user of a current numpy gets. Tests and CI keep the machine's setting; only the benchmarks
re-execute themselves without the two variables.
"""

from __future__ import annotations

import os
import sys

FORCED_KERNEL_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_NOTE = "CNNCOMPILE_BENCH_UNSET"  # what the re-executed process was started without


def use_native_kernel() -> None:
    """Re-execute this script once with ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` unset.

    Does nothing when neither is set. The replacement process gets the same interpreter,
    flags and arguments; OpenBLAS picks its kernel at load time, so the variables have to be
    gone before the process starts, not just before numpy is imported again.
    """
    forced = [f"{name}={os.environ[name]}" for name in FORCED_KERNEL_VARS if name in os.environ]
    if not forced:
        return
    env = {k: v for k, v in os.environ.items() if k not in FORCED_KERNEL_VARS}
    env[_UNSET_NOTE] = " ".join(forced)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def blas_kernels() -> list[str]:
    """Each BLAS library loaded in this process: API, version, kernel (CPU core), threads.

    >>> all("threads" in k for k in blas_kernels())
    True
    """
    from threadpoolctl import threadpool_info

    kernels = []
    for lib in threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        core = lib.get("architecture") or lib.get("corename") or "kernel not reported"
        kernels.append(f"{lib.get('internal_api')} {lib.get('version')} {core}, "
                       f"{lib.get('num_threads')} threads")
    return kernels


def describe() -> str:
    """One line for a block of figures: the BLAS kernel(s) in use and the load average.

    For example ``BLAS: openblas 0.3.31 Haswell, 2 threads (native kernel: ran without
    OPENBLAS_CORETYPE=Prescott); load average 0.61 0.49 0.23 on 2 CPUs``.
    """
    kernels = "; ".join(blas_kernels()) or "none reported by threadpoolctl"
    unset = os.environ.get(_UNSET_NOTE)
    native = f" (native kernel: ran without {unset})" if unset else ""
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"BLAS: {kernels}{native}; load average {load} on {os.cpu_count()} CPUs"
