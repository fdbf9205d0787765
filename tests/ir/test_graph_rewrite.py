"""The graph's users map and its rewrite methods: replace_all_uses_with, erase, set_attrs."""

from dataclasses import replace

import pytest

LAYERS = "[[conv, {ksize: 3, chn: 4, actions: LBA}], [max, {stride: 2}]]"


def test_the_users_map_is_read_only_and_computed_once(make_graph):
    g = make_graph(LAYERS)
    users = g.users()
    assert users["conv"] == ("conv/bn",) and users["output"] == ()
    assert g.users() == users and g._users is not None
    with pytest.raises(TypeError):
        users["conv"] = ()  # a reader cannot corrupt the shared map


def test_a_node_reading_one_value_twice_is_one_user(make_graph):
    from cnncompile.ir.graph import make_node
    from cnncompile.ir.ops import NoAttrs

    g = make_graph(LAYERS).copy()
    shape = g["max"].shape
    g.nodes["twice"] = make_node("twice", "add", NoAttrs(), ["max", "max"], [shape, shape])
    assert g.users()["max"].count("twice") == 1
    g.lint()


def test_replace_all_uses_with_moves_readers_output_and_records_an_alias(make_graph):
    g = make_graph(LAYERS).copy()
    assert g.replace_all_uses_with("conv/bn", "conv") == ["conv/relu"]
    assert g["conv/relu"].inputs == ["conv"]
    assert g.users()["conv"] == ("conv/bn", "conv/relu") and g.users()["conv/bn"] == ()
    assert g.aliases == {"conv/bn": "conv"}
    g.erase("conv/bn")
    g.lint()
    assert "conv/bn" not in g.block.all_nodes()
    g2 = make_graph(LAYERS).copy()
    g2.replace_all_uses_with("conv/relu", "conv/bn")
    g2.erase("conv/relu")
    g2.replace_all_uses_with("conv/bn", "conv")
    assert g2.aliases == {"conv/relu": "conv", "conv/bn": "conv"}  # chains follow through


def test_the_output_moves_with_its_value(make_graph):
    g = make_graph("[[full, {width: 5, actfunc: none}]]", input="[10]").copy()
    g.output = "full"  # pretend the hidden layer were the output, then hand it on
    g.replace_all_uses_with("full", "input")
    assert g.output == "input"


def test_a_reader_defined_before_the_new_value_is_refused(make_graph):
    g = make_graph(LAYERS).copy()
    with pytest.raises(ValueError, match="defined after it"):
        g.replace_all_uses_with("conv", "max")


def test_erase_refuses_while_users_remain_and_for_the_input_or_output(make_graph):
    g = make_graph(LAYERS).copy()
    for name in ("conv", "input", "output"):
        with pytest.raises(ValueError, match=f"cannot erase '{name}'"):
            g.erase(name)
    assert "conv" in g.nodes


def test_set_attrs_recomputes_parameters_and_cost(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 4, bias: false}]]").copy()
    before = g["conv"]
    node = g.set_attrs("conv", replace(before.attrs, bias=True))
    assert [p.name for p in node.params] == ["conv.kernel", "conv.bias"]
    assert node.cost.trainable == before.cost.trainable + 4 and node.inputs == before.inputs
    g.lint()


def test_a_copy_is_independent(make_graph):
    g = make_graph(LAYERS)
    printed, users, blocks = str(g), dict(g.users()), g.block.all_nodes()
    c = g.copy()
    c.replace_all_uses_with("conv/bn", "conv")
    c.erase("conv/bn")
    assert (str(g), dict(g.users()), g.block.all_nodes()) == (printed, users, blocks)
    g.lint()


def test_lint_catches_a_stale_users_map_and_a_dangling_alias(make_graph):
    g = make_graph(LAYERS).copy()
    g.users()
    g["conv/relu"].inputs = ["conv"]  # behind the rewrite methods' back
    with pytest.raises(ValueError, match="users map is stale"):
        g.lint()
    g = make_graph(LAYERS).copy()
    g.aliases["gone"] = "nowhere"
    with pytest.raises(ValueError, match="alias 'gone'"):
        g.lint()


def test_none_attributes_change_neither_hash_nor_printout(make_graph):
    g = make_graph(LAYERS)
    fused = g.copy()
    fused.set_attrs("conv", replace(g["conv"].attrs, activation=None))
    assert fused.structure_hash() == g.structure_hash() and str(fused) == str(g)
    assert "activation" not in str(g)
    fused.set_attrs("conv", replace(g["conv"].attrs, activation="relu"))
    assert fused.structure_hash() != g.structure_hash()
    assert "activation=relu" in str(fused)
