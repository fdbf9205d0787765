"""onnxruntime sessions and the choice of execution provider.

``auto`` takes CUDA when onnxruntime-gpu is installed and its CUDA provider starts (a GPU is
there), otherwise the CPU; ``cuda`` asks for the GPU and falls back to the CPU with a ``note``
saying why instead of failing; ``cpu`` is the CPU. onnxruntime-gpu present without a working
GPU also gives a note.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..artifacts.files import check_file_size
from ..artifacts.text import printable
from ..choices import PROVIDERS
from ..errors import DataError
from ..machine import check_threads

MAX_MODEL_BYTES = 2 * 2**30  # protobuf's own limit for one serialised model
SPEC_SUFFIXES = (".yaml", ".yml")
SNIFF_BYTES = 4096  # enough of a file to tell text from a serialised model
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
WAIT_SLICE_SECONDS = 0.05  # how often a thread waiting for onnxruntime looks for a signal
STOP_GRACE_SECONDS = 1.0  # how long an abandoned call may take to notice it was stopped


def check_model_file(path: str | Path, *, suffix: bool = False) -> Path:
    """``path`` as a Path when it is a regular, non-empty ONNX file of at most 2 GiB.

    ``suffix``: also require the ``.onnx`` suffix (where a command names its output after it).

    Raises:
        DataError: one line saying what is wrong with it (a FIFO would block onnxruntime).
    """
    p = Path(path)
    if p.suffix.lower() in SPEC_SUFFIXES:
        raise DataError(_spec_not_model(p))
    if suffix and p.suffix.lower() != ".onnx":
        raise DataError(f"{printable(p)}: expected an .onnx model file")
    check_file_size(p, "ONNX model file", MAX_MODEL_BYTES)
    return p


def _spec_not_model(path: Path) -> str:
    return (f"{printable(path)}: this is a spec, not an exported model: export it first "
            f"(cnncompile export {printable(path)} --weights CHECKPOINT -o MODEL.onnx)")


def _unloadable(path: Path | None, detail: str) -> str:
    """Why onnxruntime could not load ``path``, in the user's terms: a spec names the export
    step, a text file says it is text; onnxruntime's own words otherwise."""
    head = b""
    if path is not None:
        try:
            with open(path, "rb") as f:
                head = f.read(SNIFF_BYTES)
        except OSError:
            pass
    where = printable(path) if path is not None else "model"
    if head and b"\0" not in head:
        text = head.decode("utf-8", errors="replace")
        if any(line.startswith("layers:") for line in text.splitlines()):
            return _spec_not_model(path)
        return (f"{where}: not a loadable ONNX model: onnxruntime cannot load it (a text file, "
                "not a serialised model: give the .onnx file `cnncompile export` wrote)")
    if "Protobuf parsing failed" in detail:
        return (f"{where}: not a loadable ONNX model: onnxruntime cannot load it (it does not "
                "parse as a model: truncated, damaged or another kind of file)")
    return (f"{where}: not a loadable ONNX model: onnxruntime cannot load it "
            f"({printable(detail)[:200]})")


@dataclass
class Session:
    """An onnxruntime InferenceSession, the provider that runs it and a note for the user."""

    session: object
    provider: str
    note: str | None = None


def requested_providers(provider: str) -> tuple[list[str], str | None]:
    """Providers to ask onnxruntime for, and a note when the request cannot be met."""
    import onnxruntime as ort

    if provider not in PROVIDERS:
        raise DataError(f"`--provider` must be one of {', '.join(PROVIDERS)}. "
                        f"Received: {provider!r}")
    if provider == "cpu":
        return [CPU], None
    available = ort.get_available_providers()
    if provider == "cuda" and TENSORRT in available and CUDA in available:
        return [TENSORRT, CUDA, CPU], None  # TensorRT where present, CUDA for what it lacks
    if CUDA in available:
        return [CUDA, CPU], None
    if provider == "cuda":
        return [CPU], ("CUDA requested, but this onnxruntime has no CUDAExecutionProvider "
                       "(install onnxruntime-gpu, e.g. pip install 'cnncompile[gpu]'); running "
                       "on the CPU")
    return [CPU], None  # auto on a CPU-only install: the CPU is what was asked for


def open_session(model: str | Path | bytes, provider: str = "auto",
                 threads: int | None = None) -> Session:
    """An inference session on ``model`` (a path or serialised bytes) with ``provider``.

    ``threads`` (onnxruntime's intra-op threads; None: its default) must be within the CPUs
    this process may use.

    Raises:
        OptionError: ``threads`` out of range (:func:`cnncompile.machine.check_threads`).
        DataError: the file is missing, not a regular file (a FIFO would block onnxruntime),
            over 2 GiB, or onnxruntime cannot load it (its exception in one line).
    """
    import onnxruntime as ort

    threads = check_threads(threads)
    providers, note = requested_providers(provider)
    path = None
    if isinstance(model, (str, Path)):
        path = check_model_file(model)
        model = str(model)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    try:
        with warnings.catch_warnings():  # a provider that does not start is our note's job
            warnings.simplefilter("ignore")
            session = ort.InferenceSession(model, opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(_unloadable(path, detail)) from None
    used = session.get_providers()[0]
    if CUDA in providers and used not in (CUDA, TENSORRT):
        note = ("onnxruntime-gpu is installed but its CUDA provider did not start (no GPU or no "
                "CUDA libraries?); running on the CPU")
    return Session(session, used, note)


def run_interruptibly(session, output_names: list[str] | None, feed: dict) -> list:
    """``session.run(output_names, feed)``, stopped within moments by Ctrl-C or SIGTERM.

    onnxruntime runs a call in C++ without coming back to Python, so a signal's exception
    would wait for the whole call (seconds, for a large batch of a large model). Here the call
    runs in a helper thread while this thread waits in short slices; when the signal's
    exception arrives, ``RunOptions.terminate`` makes onnxruntime abandon the call (it checks
    between nodes) and the exception goes on. A call that ends normally returns or raises as
    ``session.run`` does; the helper thread costs about a tenth of a millisecond per call.
    """
    import onnxruntime as ort

    options = ort.RunOptions()
    done: dict[str, object] = {}
    finished = threading.Event()  # not Thread.join: an interrupted join can lose its state

    def call() -> None:
        try:
            done["outputs"] = session.run(output_names, feed, options)
        except BaseException as e:  # re-raised in the calling thread
            done["error"] = e
        finally:
            finished.set()

    threading.Thread(target=call, name="onnxruntime-run", daemon=True).start()
    try:
        while not finished.wait(WAIT_SLICE_SECONDS):
            pass
    except BaseException:
        options.terminate = True
        finished.wait(STOP_GRACE_SECONDS)
        raise
    if "error" in done:
        raise done["error"]
    return done["outputs"]
