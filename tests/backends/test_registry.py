"""The one lowering registry every backend fills."""

import pytest

from cnncompile.backends.numpy import KERNELS
from cnncompile.backends.onnx import EMITTERS
from cnncompile.backends.registry import Lowerings, MissingLowering


def test_register_and_look_up():
    table = Lowerings("demo")

    @table.register("conv")
    def conv():
        return "conv"

    assert table.lookup("conv") is conv and "conv" not in table.missing() and "add" in table.missing()


def test_a_second_lowering_of_an_op_is_refused():
    table = Lowerings("demo")
    table.register("add")(len)
    with pytest.raises(ValueError, match="demo lowering of op 'add' registered twice"):
        table.register("add")(max)


def test_a_lowering_of_an_unknown_op_is_refused():
    with pytest.raises(ValueError, match="demo lowering of unknown IR op 'conv3d'"):
        Lowerings("demo").register("conv3d")(len)


def test_a_missing_lowering_names_backend_and_op():
    with pytest.raises(MissingLowering, match="the demo backend has no lowering of IR op 'tile'"):
        Lowerings("demo").lookup("tile")


@pytest.mark.parametrize("table", [KERNELS, EMITTERS], ids=["numpy", "onnx"])
def test_the_backends_refuse_a_second_lowering(table):
    with pytest.raises(ValueError, match="registered twice"):
        table.register("conv")(table["conv"])
