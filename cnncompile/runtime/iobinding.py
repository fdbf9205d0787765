"""onnxruntime I/O binding: inputs placed on the execution device once, outputs left there.

``session.run`` copies every input to the GPU and every output back on each call; with I/O
binding the input is an ``OrtValue`` already on the device and the outputs stay there until
asked for, which is what batch throughput on CUDA needs. ``OnnxModel`` uses a
:class:`BoundRunner` when its session runs on CUDA or TensorRT; on the CPU the same path works
(device 'cpu') and gives the very values ``session.run`` gives, which the tests check.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def device_of(provider: str) -> str:
    """The OrtValue device name for an execution provider: 'cuda' or 'cpu'."""
    return "cuda" if provider in GPU_PROVIDERS else "cpu"


class BoundRunner:
    """Runs one session through an I/O binding on ``device`` ('cuda' or 'cpu').

    Args:
        session: an onnxruntime InferenceSession.
        device: where inputs and outputs live; 'cuda' needs onnxruntime-gpu and a GPU.
    """

    def __init__(self, session, device: str = "cpu"):
        self.session = session
        self.device = device
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]

    def _binding(self, x: np.ndarray):
        import onnxruntime as ort

        binding = self.session.io_binding()
        value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(x), self.device, 0)
        binding.bind_ortvalue_input(self.input_name, value)
        for name in self.output_names:
            binding.bind_output(name, self.device)
        return binding, value  # the OrtValue must outlive the binding's runs

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs by name for one prepared batch, copied back to host memory."""
        binding, _value = self._binding(x)
        self.session.run_with_iobinding(binding)
        outs = binding.copy_outputs_to_cpu()
        return dict(zip(self.output_names, outs, strict=True))

    def timed_call(self, x: np.ndarray) -> Callable[[], None]:
        """A call that reruns the model on ``x`` already on the device (nothing copied back).

        For throughput measurements: the input transfer happens once, here.
        """
        binding, value = self._binding(x)
        run = self.session.run_with_iobinding

        def call() -> None:
            run(binding)
            binding.synchronize_outputs()

        call.keep_alive = value  # type: ignore[attr-defined]
        return call


def runner_for(session, provider: str) -> BoundRunner | None:
    """A BoundRunner when ``provider`` is a GPU one, else None (plain ``session.run``)."""
    if device_of(provider) == "cpu":
        return None
    return BoundRunner(session, device_of(provider))
