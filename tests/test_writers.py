"""The CLI's JSON writer: one indented document, written in pieces instead of one joined string."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings, strategies as st

from logtrace.cli import writers

JSONABLE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                        max_leaves=40)


@settings(max_examples=60, deadline=None)
@given(doc=JSONABLE, piece=st.integers(1, 64))
def test_write_json_is_json_dumps_indented_whatever_the_piece_size(doc, piece):
    out = io.StringIO()
    before, writers.JSON_PIECE = writers.JSON_PIECE, piece
    try:
        writers.write_json(doc, out)
    finally:
        writers.JSON_PIECE = before
    assert out.getvalue() == json.dumps(doc, indent=2, ensure_ascii=writers._ascii_only()) + "\n"


def test_write_json_writes_a_large_document_in_several_pieces(monkeypatch):
    monkeypatch.setattr(writers, "JSON_PIECE", 1000)
    writes: list[int] = []

    class Sink(io.StringIO):
        def write(self, s: str) -> int:
            writes.append(len(s))
            return super().write(s)

    doc = {"messages": [{"queue_id": f"{i:011X}", "to": f"user{i}@example.org"} for i in range(500)]}
    sink = Sink()
    writers.write_json(doc, sink)
    assert json.loads(sink.getvalue()) == doc and sink.getvalue().endswith("}\n")
    assert len(writes) > 10 and max(writes) < 1000 + 200  # a piece ends at the first chunk past the size
