"""`export --triton`: a model repository that parses as Triton's ModelConfig and fits the graph.

The PyPI package `tritonserver` is a placeholder that refuses to install (Triton ships in NGC
containers), so no server answers a request here; the configuration is checked offline
against Triton's own protobuf schema from tritonclient, and against the graph.
"""

from __future__ import annotations

import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.deploy.triton import (
    TritonOptions,
    check_config,
    config_text,
    parse_config,
    write_repository,
)
from cnncompile.errors import ExportError

SPEC = """\
name: pics
input: [12, 10, 3]
output: {labels: [cat, dog, owl, emu]}
layers: [[conv, {ksize: 3, chn: 6, stride: 2}], [max, {stride: 2}], 8]
"""
HEADS_SPEC = """\
name: office
input: [8, 8, 1]
output: {heads: {domain: 2, object: 3}}
layers: [[conv, {ksize: 3, chn: 4}], [avg, {stride: 2}], 6]
"""

runner = CliRunner()


def _export(tmp_path, text: str, *args: str):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return runner.invoke(app, ["export", str(spec), "-o", str(tmp_path / "m.onnx"),
                               "--scale", "1", *args])


def _config(folder) -> model_config_pb2.ModelConfig:
    return text_format.Parse((folder / "config.pbtxt").read_text(),
                             model_config_pb2.ModelConfig())


def test_repository_parses_and_matches_the_graph(tmp_path):
    repo = tmp_path / "repo"
    r = _export(tmp_path, SPEC, "--triton", str(repo), "--max-batch-size", "8",
                "--instances", "2")
    assert r.exit_code == 0, r.output
    folder = repo / "pics"
    assert sorted(p.name for p in folder.iterdir()) == ["1", "config.pbtxt", "labels.txt"]
    model = onnx.load(str(folder / "1" / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert (folder / "1" / "model.onnx").read_bytes() == (tmp_path / "m.onnx").read_bytes()
    c = _config(folder)
    assert (c.name, c.platform, c.max_batch_size) == ("pics", "onnxruntime_onnx", 8)
    assert [(t.name, list(t.dims)) for t in c.input] == [("input", [12, 10, 3])]
    assert c.input[0].data_type == model_config_pb2.TYPE_FP32
    assert c.input[0].format == model_config_pb2.ModelInput.FORMAT_NHWC
    assert [(t.name, list(t.dims), t.label_filename) for t in c.output] == [
        ("output", [4], "labels.txt")]
    assert c.HasField("dynamic_batching")
    assert [(g.count, g.kind) for g in c.instance_group] == [
        (2, model_config_pb2.ModelInstanceGroup.KIND_CPU)]
    assert not c.HasField("optimization")
    assert (folder / "labels.txt").read_text() == "cat\ndog\nowl\nemu\n"
    graph_input = model.graph.input[0].type.tensor_type.shape.dim
    assert graph_input[0].dim_param and [d.dim_value for d in graph_input[1:]] == [12, 10, 3]
    check_config(c, model)
    assert "triton: wrote" in r.output and "agrees with the graph" in r.output
    assert [p.name for p in repo.iterdir()] == ["pics"]  # no temporary folders left


@pytest.mark.parametrize("accelerator", ["tensorrt", "cuda"])
def test_gpu_instances_and_accelerator(tmp_path, accelerator):
    repo = tmp_path / "repo"
    r = _export(tmp_path, SPEC, "--triton", str(repo), "--gpu", "--accelerator", accelerator)
    assert r.exit_code == 0, r.output
    c = _config(repo / "pics")
    assert c.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    accel = c.optimization.execution_accelerators.gpu_execution_accelerator
    assert [a.name for a in accel] == [accelerator]


def test_accelerator_without_gpu_is_refused_before_writing(tmp_path):
    repo = tmp_path / "repo"
    r = _export(tmp_path, SPEC, "--triton", str(repo), "--accelerator", "cuda")
    assert r.exit_code == 2
    assert "error: `--accelerator cuda` is a GPU execution accelerator; add --gpu" in r.output
    assert not repo.exists() and not (tmp_path / "m.onnx").exists()


def test_two_heads_get_one_labels_file_each(tmp_path):
    repo = tmp_path / "repo"
    r = _export(tmp_path, HEADS_SPEC, "--triton", str(repo))
    assert r.exit_code == 0, r.output
    c = _config(repo / "office")
    files = {t.name: t.label_filename for t in c.output}
    assert files == {"domain": "labels_domain.txt", "object": "labels_object.txt"}
    assert (repo / "office" / "labels_object.txt").read_text() == "0\n1\n2\n"


def test_rewriting_replaces_the_model_folder(tmp_path):
    repo = tmp_path / "repo"
    assert _export(tmp_path, SPEC, "--triton", str(repo)).exit_code == 0
    (repo / "pics" / "stale.txt").write_text("old")
    (repo / "other").mkdir()
    assert _export(tmp_path, SPEC, "--triton", str(repo), "--instances", "3").exit_code == 0
    assert not (repo / "pics" / "stale.txt").exists()
    assert _config(repo / "pics").instance_group[0].count == 3
    assert sorted(p.name for p in repo.iterdir()) == ["other", "pics"]


@pytest.fixture
def model(tmp_path):
    assert _export(tmp_path, SPEC).exit_code == 0
    return onnx.load(str(tmp_path / "m.onnx"))


def test_a_config_that_disagrees_with_the_graph_is_refused(model):
    good = config_text("pics", model, TritonOptions(), {}, "NHWC")
    check_config(parse_config(good), model)
    bad_dims = good.replace("dims: [ 12, 10, 3 ]", "dims: [ 10, 12, 3 ]")
    with pytest.raises(ExportError, match=r"inputs .* disagree with the graph"):
        check_config(parse_config(bad_dims), model)
    bad_type = good.replace("data_type: TYPE_FP32", "data_type: TYPE_FP16", 1)
    with pytest.raises(ExportError, match="disagree with the graph"):
        check_config(parse_config(bad_type), model)


def test_a_fixed_batch_axis_cannot_batch(model):
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    with pytest.raises(ExportError, match="needs a dynamic batch axis, but input 'input'"):
        check_config(parse_config(config_text("pics", model, TritonOptions(), {}, "NHWC")),
                     model)


def test_triton_schema_rejects_unknown_fields_and_enums(model):
    good = config_text("pics", model, TritonOptions(), {}, "NHWC")
    with pytest.raises(ExportError, match="does not parse as Triton's ModelConfig"):
        parse_config(good + "max_queue_delay: 5\n")
    with pytest.raises(ExportError, match="does not parse as Triton's ModelConfig"):
        parse_config(good.replace("KIND_CPU", "KIND_TPU"))


def test_a_bad_model_name_writes_nothing(model, tmp_path):
    with pytest.raises(ExportError, match="not a usable Triton model name"):
        write_repository(model, tmp_path / "repo", "a/b", TritonOptions())
    assert not (tmp_path / "repo").exists()


def test_triton_alone_writes_the_repository_and_nothing_in_exported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default -o would be exported/NAME.onnx here
    (tmp_path / "spec.yaml").write_text(SPEC)
    r = runner.invoke(app, ["export", "spec.yaml", "--scale", "1", "--triton", "repo"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "repo" / "pics" / "1" / "model.onnx").is_file()
    assert not (tmp_path / "exported").exists()
    assert "wrote exported" not in r.output
