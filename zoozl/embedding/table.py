"""The word-embedding table of an exported model, kept out of its graph and read
a row at a time, so that only the rows of the tokens messages use take memory.

MiniLM's table is 30,522 rows of 384 floats (47 MB), half the model. Mapped by
onnxruntime inside the graph, it became resident almost whole: every page fault
in a file mapping brings in the pages around it, and a bot's sentences touch
tokens all over the table (42.6 MB of it resident after the benchmark's load).
Here the graph takes the looked-up vectors as an input (`INPUT`) instead, and
`WordTable` reads each row it is asked for once, from a `.npy` file beside the
graph. The lookup is the same copy of the same floats, so the vectors are
identical to the last bit.

`lift` moves the lookup out of an exported graph; `restore` puts it back, so a
quantiser sees the graph as torch exported it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

#: The graph input that takes the looked-up word vectors: (batch, sequence, width).
INPUT = "word_vectors"
#: The graph's metadata key naming the table's file (beside the graph) and what
#: `restore` needs to put the lookup back.
KEY = "zoozl.word_table"
#: The graph input of the token ids the lookup reads.
IDS = "input_ids"


def lift(model: Any) -> np.ndarray | None:
    """Take the word-embedding lookup out of an onnx ModelProto, in place: the
    Gather of a 2-D initializer by the token ids becomes the graph input
    `INPUT` (name the table's file with `name_table`). Return the table (None,
    and the graph untouched, when the graph has no such lookup)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    initializers = {tensor.name: i for i, tensor in enumerate(graph.initializer)}
    found = next(
        (
            (i, node)
            for i, node in enumerate(graph.node)
            if node.op_type == "Gather"
            and all(a.name != "axis" or a.i == 0 for a in node.attribute)
            and list(node.input[1:]) == [IDS]
            and node.input[0] in initializers
            and len(graph.initializer[initializers[node.input[0]]].dims) == 2
        ),
        None,
    )
    if found is None:
        return None
    at, gather = found
    where = initializers[gather.input[0]]
    tensor = graph.initializer[where]
    table = numpy_helper.to_array(tensor).astype(np.float32, copy=False)
    record = {
        "file": "",
        "node": base64.b64encode(gather.SerializeToString()).decode(),
        "node_at": at,
        "initializer_at": where,
    }
    del graph.node[at]
    del graph.initializer[where]
    width = int(table.shape[1])
    graph.input.append(
        helper.make_tensor_value_info(
            INPUT, TensorProto.FLOAT, ["batch", "sequence", width]
        )
    )
    for node in graph.node:  # the lookup's readers now read the input
        for k, name in enumerate(node.input):
            if name == gather.output[0]:
                node.input[k] = INPUT
    helper.set_model_props(model, {**_props(model), KEY: json.dumps(record)})
    return table


def name_table(model: Any, file: str) -> None:
    """Record in a lifted graph's metadata the name of its table's file."""
    from onnx import helper

    props = _props(model)
    record = json.loads(props[KEY])
    del model.metadata_props[:]
    helper.set_model_props(model, {**props, KEY: json.dumps({**record, "file": file})})


def restore(model: Any, table: np.ndarray) -> None:
    """Put back, in place, the lookup `lift` took out of an onnx ModelProto,
    where it was: the graph is again the one torch exported."""
    from onnx import NodeProto, helper, numpy_helper

    props = _props(model)
    record = json.loads(props.pop(KEY))
    gather = NodeProto()
    gather.ParseFromString(base64.b64decode(record["node"]))
    graph = model.graph
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name == INPUT:
                node.input[k] = gather.output[0]
    graph.node.insert(record["node_at"], gather)
    tensor = numpy_helper.from_array(table, gather.input[0])
    graph.initializer.insert(record["initializer_at"], tensor)
    kept = [value for value in graph.input if value.name != INPUT]
    del graph.input[:]
    graph.input.extend(kept)
    del model.metadata_props[:]
    helper.set_model_props(model, props)


def _props(model: Any) -> dict[str, str]:
    return {entry.key: entry.value for entry in model.metadata_props}


def table_file(metadata: dict[str, str]) -> str | None:
    """The table's file name a graph's metadata names (None: the graph holds its
    own lookup)."""
    raw = metadata.get(KEY)
    return None if raw is None else str(json.loads(raw)["file"])


class WordTable:
    """A `.npy` table of float32 rows, each read from the file the first time a
    token asks for it (`vectors`); thread-safe.

    The rows read are kept in a compact array, in the order they were first
    asked for, which doubles when full: its memory is that of the rows read.
    (An array the size of the table, left untouched, would not do: numpy asks
    for transparent huge pages on large arrays, so one row written takes 2 MB.)
    """

    #: Rows the compact array holds at first (1.5 MB for MiniLM).
    FIRST_CAPACITY = 1024

    def __init__(self, path: Path, width: int) -> None:
        self.path = path
        # Held open: rows are read from this file even after its name is
        # removed (an export of a later recipe removes the files of earlier ones).
        file = path.open("rb")
        try:
            version = np.lib.format.read_magic(file)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(file)
            self._start = file.tell()
            if (
                dtype != np.dtype("<f4")
                or fortran
                or len(shape) != 2
                or shape[1] != width
            ):
                raise ValueError(
                    f"{path} is not a table of float32 rows of width {width}: "
                    f"{dtype}, shape {shape}"
                )
            size = os.fstat(file.fileno()).st_size
            if size != self._start + shape[0] * width * 4:
                raise ValueError(f"{path} is cut short: {size} bytes")
        except BaseException:
            file.close()
            raise
        self._file = file
        weakref.finalize(self, file.close)
        rows = shape[0]
        self.rows = rows
        self._row_bytes = width * 4
        #: Where each token's row is in `_kept` (-1: not read yet).
        self._slot = np.full(rows, -1, dtype=np.int64)
        self._kept = np.empty((self.FIRST_CAPACITY, width), dtype=np.float32)
        self.rows_read = 0
        self._lock = threading.Lock()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The rows of the token ids, in their shape plus the width."""
        with self._lock:
            slots = self._slot[ids]
            if (slots < 0).any():
                self._read_rows(np.unique(ids[slots < 0]))
                slots = self._slot[ids]
            found: np.ndarray = self._kept[slots]
        return found

    def _read_rows(self, rows: np.ndarray) -> None:
        """Read the rows into `_kept`, growing it as needed (lock held)."""
        needed = self.rows_read + len(rows)
        if needed > len(self._kept):
            grown = np.empty(
                (max(needed, 2 * len(self._kept)), self._kept.shape[1]),
                dtype=np.float32,
            )
            grown[: self.rows_read] = self._kept[: self.rows_read]
            self._kept = grown
        handle = self._file.fileno()
        for row in rows.tolist():
            at = self._start + row * self._row_bytes
            raw = os.pread(handle, self._row_bytes, at)
            if len(raw) != self._row_bytes:
                raise OSError(f"{self.path}: row {row} is cut short")
            self._kept[self.rows_read] = np.frombuffer(raw, dtype="<f4")
            self._slot[row] = self.rows_read
            self.rows_read += 1


#: The name of a table file an export writes: `<graph>.<hash of its bytes>.npy`.
_NAMED_BY_CONTENT = re.compile(r"\.([0-9a-f]{16})\.npy$")
_open: weakref.WeakValueDictionary[tuple[str, ...], WordTable] = (
    weakref.WeakValueDictionary()
)
_opening = threading.Lock()


def open_table(path: Path, width: int) -> WordTable:
    """The WordTable of the file at path, one per content and folder in this
    process while any user holds it: the served MiniLM's fp32 graph and its
    "rows" draft take the same table (the draft leaves the lookup in fp32), so
    each token's row is read and kept once, not once per graph. Tables are
    told apart by the hash in their name (`export._export_split`), others by
    their path."""
    named = _NAMED_BY_CONTENT.search(path.name)
    where = str(path.parent.resolve()) if named else str(path.resolve())
    key = (where, named.group(1) if named else "", str(width))
    with _opening:
        found = _open.get(key)
        if found is None:
            found = _open[key] = WordTable(path, width)
        return found
