"""int8 with each token's activations scaled on their own ("rows"): the same
vectors for a text whether it runs alone or in a batch, so int8 can batch.

onnxruntime's dynamic quantisation (`quantise_int8`) scales the input of each
quantised MatMul by the largest value of the whole run: a text's vector then
depends on the texts it shares a run with (cosine 0.968 at worst to its vector
alone, in batches of 2 to 8), so int8 ran one text per run. Here each row of
that input (one token) is divided by its own largest absolute value, which
puts every row in [-1, 1]; the quotient is quantised with one fixed scale
(1/127, zero point 128), the integer MatMul runs as before
(`MatMulIntegerToFloat`, one onnxruntime kernel), and its output rows are
multiplied back by their divisors. Nothing is shared between rows, so a run
of several texts gives each the vector it gets alone (to float rounding), and
a token with small activations keeps its own resolution: the vectors are
about twice as close to fp32 as int8's (1 - cosine 0.0038 against 0.0079 on
1,500 read texts).

The weights are int8 per output channel, as in `quantise_int8`, of the
MatMuls only: the word-embedding lookup stays fp32, so the export lifts it
into a table beside the graph like fp32's (zoozl.embedding.table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The fixed activation scale: a row divided by its largest |value| lies in
#: [-1, 1], which 1/127 around the zero point 128 maps onto 1..255.
LEVELS = 127
ZERO_POINT = 128
#: The smallest divisor: a row of zeros quantises to zeros, not to NaN.
TINY = 1e-12
#: onnxruntime's own operators (MatMulIntegerToFloat).
MS_DOMAIN = "com.microsoft"


def quantise_rows(fp32: Path, out: Path) -> None:
    """Quantise the fp32 graph at `fp32` per channel (weights) and per row
    (activations, see the module); write the graph to `out` in one file."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    staged = out.with_name(out.name + ".dynamic.onnx")
    try:
        quantize_dynamic(
            fp32,
            staged,
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
        )
        model = onnx.load(str(staged))
    finally:
        staged.unlink(missing_ok=True)
    per_row(model)
    onnx.save_model(model, str(out))


def per_row(model: Any) -> None:
    """Rewrite, in place, each DynamicQuantizeLinear of a dynamically quantised
    graph and the integer MatMuls that read it (see the module)."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    made = {output: node for node in graph.node for output in node.output}
    replaced: dict[int, list[Any]] = {}
    dropped: set[int] = set()
    found = 0
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            continue
        found += 1
        source = node.input[0]
        quantised, scale, zero_point = node.output
        stem = f"{node.name or quantised}/rows"
        divisor = f"{stem}/divisor"
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(TINY, np.float32), f"{stem}/tiny"),
                numpy_helper.from_array(np.array(1 / LEVELS, np.float32), scale),
                numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), zero_point),
            ]
        )
        replaced[id(node)] = [
            helper.make_node("Abs", [source], [f"{stem}/abs"]),
            helper.make_node(
                "ReduceMax", [f"{stem}/abs"], [f"{stem}/max"], axes=[-1], keepdims=1
            ),
            helper.make_node("Max", [f"{stem}/max", f"{stem}/tiny"], [divisor]),
            helper.make_node("Div", [source, divisor], [f"{stem}/unit"]),
            helper.make_node(
                "QuantizeLinear", [f"{stem}/unit", scale, zero_point], [quantised]
            ),
        ]
        for matmul in readers.get(quantised, []):
            replaced[id(matmul)], gone = _to_float(
                matmul, readers, made, scale, divisor
            )
            dropped.update(gone)
    if not found:
        raise ValueError("the graph has no dynamically quantised MatMul")
    nodes = [
        new
        for node in graph.node
        if id(node) not in dropped
        for new in replaced.get(id(node), [node])
    ]
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(entry.domain == MS_DOMAIN for entry in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))


def _to_float(
    matmul: Any,
    readers: dict[str, list[Any]],
    made: dict[str, Any],
    scale: str,
    divisor: str,
) -> tuple[list[Any], list[int]]:
    """MatMulInteger -> Cast -> Mul(by a_scale x b_scale) as one
    MatMulIntegerToFloat, then the rows multiplied back by their divisors.
    Returns the new nodes (in the MatMulInteger's place) and the nodes gone."""
    from onnx import helper

    if matmul.op_type != "MatMulInteger":
        raise ValueError(f"{matmul.name}: quantised input read by {matmul.op_type}")
    cast = _only_reader(matmul, readers, "Cast")
    rescale = _only_reader(cast, readers, "Mul")
    scales = made.get(rescale.input[1])
    if (
        rescale.input[0] != cast.output[0]
        or scales is None
        or scales.op_type != "Mul"
        or scales.input[0] != scale
    ):
        raise ValueError(f"{matmul.name}: its output is not scaled as expected")
    quantised, weights, zero_point, weight_zero_point = matmul.input
    output = rescale.output[0]
    nodes = [
        helper.make_node(
            "MatMulIntegerToFloat",
            [quantised, weights, scale, scales.input[1], zero_point, weight_zero_point],
            [f"{output}/unit"],
            name=f"{output}/rows",
            domain=MS_DOMAIN,
        ),
        helper.make_node("Mul", [f"{output}/unit", divisor], [output]),
    ]
    return nodes, [id(cast), id(rescale), id(scales)]


def _only_reader(node: Any, readers: dict[str, list[Any]], op_type: str) -> Any:
    found = readers.get(node.output[0], [])
    if len(found) != 1 or found[0].op_type != op_type:
        raise ValueError(f"{node.name}: its output is not read by one {op_type}")
    return found[0]
