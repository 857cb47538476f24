"""int8 scaled per token (zoozl.embedding.rows), on a small graph of two MatMuls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zoozl.embedding.rows import per_row, quantise_rows

WIDTH, HIDDEN = 48, 64


def two_matmuls(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """x -> MatMul(W1) -> Relu -> MatMul(W2), fp32, batch and sequence dynamic,
    as the encoder's layers are; returns the weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    first = rng.normal(size=(WIDTH, HIDDEN)).astype(np.float32)
    second = rng.normal(size=(HIDDEN, WIDTH)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "first"], ["hidden"]),
            helper.make_node("Relu", ["hidden"], ["active"]),
            helper.make_node("MatMul", ["active", "second"], ["y"]),
        ],
        "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", WIDTH])],
        [
            numpy_helper.from_array(first, "first"),
            numpy_helper.from_array(second, "second"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path))
    return first, second


def session(path: Path) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    work = tmp_path_factory.mktemp("rows")
    first, second = two_matmuls(work / "fp32.onnx")
    quantise_rows(work / "fp32.onnx", work / "rows.onnx")
    quantize_dynamic(
        work / "fp32.onnx",
        work / "int8.onnx",
        per_channel=True,
        weight_type=QuantType.QInt8,
    )
    return {
        "weights": (first, second),
        "rows": session(work / "rows.onnx"),
        "int8": session(work / "int8.onnx"),
        "path": work / "rows.onnx",
    }


def inputs() -> np.ndarray:
    """Three texts of five tokens; the second's activations 50 times larger
    (a batch-mate with an outlier), the third's a row of zeros at the end."""
    x = np.random.default_rng(3).normal(size=(3, 5, WIDTH)).astype(np.float32)
    x[1] *= 50
    x[2, -1] = 0
    return x


def reference(x: np.ndarray, weights: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    first, second = weights
    return np.maximum(x @ first, 0) @ second


def test_a_text_gets_the_same_output_alone_as_beside_others(
    graphs: dict[str, Any],
) -> None:
    x = inputs()
    together = graphs["rows"].run(None, {"x": x})[0]
    for i in range(len(x)):
        alone = graphs["rows"].run(None, {"x": x[i : i + 1]})[0]
        assert np.allclose(alone[0], together[i], rtol=0, atol=1e-5)
    # onnxruntime's own dynamic int8 scales the whole run: the outlier beside
    # the first text coarsens its output, which is why int8 ran one text a run.
    int8_together = graphs["int8"].run(None, {"x": x})[0]
    int8_alone = graphs["int8"].run(None, {"x": x[:1]})[0]
    assert np.abs(int8_alone[0] - int8_together[0]).max() > 0.1


def test_its_outputs_stay_near_fp32_each_row_at_its_own_scale(
    graphs: dict[str, Any],
) -> None:
    x = inputs()
    want = reference(x, graphs["weights"])
    rows = graphs["rows"].run(None, {"x": x})[0]
    int8 = graphs["int8"].run(None, {"x": x})[0]

    def error(got: np.ndarray, i: int) -> float:
        return float(np.abs(got[i] - want[i]).max() / np.abs(want[i]).max())

    assert all(error(rows, i) < 0.03 for i in range(3))
    assert error(rows, 0) < error(int8, 0) / 5  # int8 scaled it by the outlier
    assert np.all(np.isfinite(rows))
    assert np.allclose(rows[2, -1], 0, atol=1e-6)  # the zero row: zeros, no NaN


def test_the_graph_scales_rows_and_runs_one_integer_kernel_per_matmul(
    graphs: dict[str, Any],
) -> None:
    import onnx

    kinds = [node.op_type for node in onnx.load(str(graphs["path"])).graph.node]
    assert "DynamicQuantizeLinear" not in kinds
    assert "MatMulInteger" not in kinds
    assert kinds.count("MatMulIntegerToFloat") == 2
    assert kinds.count("QuantizeLinear") == 2
    assert kinds.count("ReduceMax") == 2


def test_a_graph_with_nothing_quantised_is_refused(tmp_path: Path) -> None:
    import onnx

    two_matmuls(tmp_path / "fp32.onnx")
    with pytest.raises(ValueError, match="no dynamically quantised MatMul"):
        per_row(onnx.load(str(tmp_path / "fp32.onnx")))
