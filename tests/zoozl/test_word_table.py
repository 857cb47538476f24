"""The word table out of the graph: lifted and restored exactly, read a row at a
time, and refused when its file is not a whole table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoozl.embedding import table
from zoozl.embedding.table import WordTable

WIDTH = 4


def saved(tmp_path: Path, rows: int, width: int = WIDTH) -> Path:
    values = np.arange(rows * width, dtype=np.float32).reshape(rows, width) / 7
    path = tmp_path / "table.npy"
    np.save(path, values)
    return path


def test_rows_are_read_when_first_asked_for_and_only_then(tmp_path: Path) -> None:
    path = saved(tmp_path, 50)
    words = WordTable(path, WIDTH)
    ids = np.array([[3, 7, 3, 0], [7, 7, 49, 0]], dtype=np.int64)
    vectors = words.vectors(ids)
    assert vectors.shape == (2, 4, WIDTH)
    assert np.array_equal(vectors, np.load(path)[ids])
    assert words.rows_read == 4  # 0, 3, 7 and 49
    assert np.array_equal(words.vectors(ids[:, :2]), vectors[:, :2])
    assert words.rows_read == 4  # rows read before are not read again


def test_rows_are_still_read_once_the_files_name_is_removed(tmp_path: Path) -> None:
    # An export of a later recipe removes the files of earlier ones while a
    # server started on them may still be running.
    path = saved(tmp_path, 50)
    values = np.load(path)
    words = WordTable(path, WIDTH)
    words.vectors(np.array([[1]]))
    path.unlink()
    assert np.array_equal(words.vectors(np.array([[1, 5, 9]]))[0], values[[1, 5, 9]])
    assert words.rows_read == 3


def test_one_table_serves_every_name_of_the_same_content_in_a_folder(
    tmp_path: Path,
) -> None:
    original = saved(tmp_path, 50)
    fp32 = tmp_path / "m-fp32.onnx.0123456789abcdef.npy"
    rows = tmp_path / "m-rows.onnx.0123456789abcdef.npy"
    other = tmp_path / "m-other.onnx.fedcba9876543210.npy"
    for name in (fp32, rows, other):
        name.write_bytes(original.read_bytes())
    first = table.open_table(fp32, WIDTH)
    assert table.open_table(rows, WIDTH) is first  # read once, kept once
    assert table.open_table(other, WIDTH) is not first  # other bytes
    assert table.open_table(original, WIDTH) is not first  # not named by content
    assert table.open_table(original, WIDTH) is table.open_table(original, WIDTH)
    copied = tmp_path / "elsewhere"
    copied.mkdir()
    (copied / rows.name).write_bytes(rows.read_bytes())
    assert table.open_table(copied / rows.name, WIDTH) is not first  # a folder each
    first.vectors(np.array([[2, 4]]))
    assert table.open_table(rows, WIDTH).rows_read == 2
    with pytest.raises(ValueError, match="width 5"):
        table.open_table(other, WIDTH + 1)  # the width is checked, not shared


def test_a_table_no_one_holds_is_let_go(tmp_path: Path) -> None:
    import gc

    path = tmp_path / "m.onnx.0123456789abcdef.npy"
    path.write_bytes(saved(tmp_path, 50).read_bytes())
    first = table.open_table(path, WIDTH)
    first.vectors(np.array([[3]]))
    del first
    gc.collect()
    assert table.open_table(path, WIDTH).rows_read == 0  # opened afresh


def test_an_export_names_the_table_of_the_same_bytes_a_second_time(
    tmp_path: Path,
) -> None:
    from zoozl.embedding import export

    fp32 = saved(tmp_path, 50).rename(tmp_path / "m-fp32.onnx.npy")
    digest = export._digest(fp32)
    twin = fp32.rename(tmp_path / f"m-fp32.onnx.{digest}.npy")
    work = tmp_path / "work"
    work.mkdir()
    staged = work / "table.npy"
    staged.write_bytes(twin.read_bytes())
    final = tmp_path / f"m-rows.onnx.{digest}.npy"
    export._place_table(staged, final, digest)
    assert final.stat().st_ino == twin.stat().st_ino  # one file, two names
    twin.unlink()  # an earlier recipe's name removed: the other stays whole
    assert np.array_equal(np.load(final), np.load(saved(work, 50)))


def test_a_damaged_twin_is_not_named_again(tmp_path: Path) -> None:
    from zoozl.embedding import export

    good = saved(tmp_path, 50)
    digest = export._digest(good)
    twin = tmp_path / f"m-fp32.onnx.{digest}.npy"
    twin.write_bytes(good.read_bytes()[:-16])  # cut short, its name unchanged
    staged = tmp_path / "staged.npy"
    staged.write_bytes(good.read_bytes())
    final = tmp_path / f"m-rows.onnx.{digest}.npy"
    export._place_table(staged, final, digest)
    assert final.stat().st_ino != twin.stat().st_ino
    assert final.read_bytes() == good.read_bytes()
    assert not staged.exists()


def test_the_rows_read_outgrow_the_first_array_and_keep_their_values(
    tmp_path: Path,
) -> None:
    rows = 3 * WordTable.FIRST_CAPACITY
    path = saved(tmp_path, rows)
    words = WordTable(path, WIDTH)
    order = np.random.default_rng(1).permutation(rows)
    for part in np.array_split(order, 7):
        words.vectors(part[None, :])
    assert words.rows_read == rows
    everything = np.arange(rows)[None, :]
    assert np.array_equal(words.vectors(everything)[0], np.load(path))


@pytest.mark.parametrize(
    ("write", "error"),
    [
        (lambda p: np.save(p, np.zeros((5, WIDTH + 1), np.float32)), "width 4"),
        (lambda p: np.save(p, np.zeros((5, WIDTH), np.float64)), "float32"),
        (lambda p: np.save(p, np.zeros(20, np.float32)), "shape"),
        (lambda p: p.write_bytes(b"not a table at all"), "magic"),
    ],
)
def test_a_file_that_is_not_a_table_of_the_width_is_refused(
    tmp_path: Path, write: object, error: str
) -> None:
    path = tmp_path / "table.npy"
    write(path)  # type: ignore[operator]
    with pytest.raises(ValueError, match=error):
        WordTable(path, WIDTH)


def test_a_table_cut_short_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path, 10)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="cut short"):
        WordTable(path, WIDTH)


def tiny_graph() -> object:
    """input_ids -> Gather(table) -> Add(bias) -> out, with a second input."""
    from onnx import TensorProto, helper, numpy_helper

    words = np.arange(24, dtype=np.float32).reshape(6, WIDTH)
    bias = np.full(WIDTH, 0.5, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["words", "input_ids"], ["looked"], name="g"),
            helper.make_node("Add", ["looked", "bias"], ["out"], name="add"),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"]),
            helper.make_tensor_value_info("mask", TensorProto.INT64, ["b", "s"]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", "s", WIDTH])],
        [
            numpy_helper.from_array(bias, "bias"),
            numpy_helper.from_array(words, "words"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_lift_takes_the_lookup_out_and_restore_puts_it_back(tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    model = tiny_graph()
    original = model.SerializeToString()  # type: ignore[attr-defined]
    words = table.lift(model)
    assert words is not None and words.shape == (6, WIDTH)
    table.name_table(model, "t.npy")
    props = {p.key: p.value for p in model.metadata_props}  # type: ignore[attr-defined]
    assert table.table_file(props) == "t.npy"
    onnx.checker.check_model(model)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(),  # type: ignore[attr-defined]
        providers=["CPUExecutionProvider"],
    )
    ids = np.array([[1, 5, 0]], dtype=np.int64)
    feed = {"word_vectors": words[ids], "input_ids": ids, "mask": ids}
    [out] = session.run(None, feed)
    assert np.array_equal(out, words[ids] + 0.5)
    table.restore(model, words)
    again = onnx.load_from_string(model.SerializeToString())  # type: ignore[attr-defined]
    assert (
        again.graph.SerializeToString()
        == onnx.load_from_string(original).graph.SerializeToString()
    )
    assert list(again.metadata_props) == []


def test_a_graph_without_a_lookup_by_token_ids_is_left_as_it_is() -> None:
    model = tiny_graph()
    model.graph.node[0].input[1] = "mask"  # type: ignore[attr-defined]
    before = model.SerializeToString()  # type: ignore[attr-defined]
    assert table.lift(model) is None
    assert model.SerializeToString() == before  # type: ignore[attr-defined]
