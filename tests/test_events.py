import dataclasses
from datetime import datetime, timezone

import polars as pl
from hypothesis import given, strategies as st

from logtrace.events import Event, EventKind, Unparsed, event_schema, from_dict, to_dict


def test_event_schema_matches_dataclass_fields_and_types():
    schema = event_schema()
    fields = dataclasses.fields(Event)
    assert [f.name for f in fields] == [n for n in schema if n != "reason"]
    for f in fields:
        t = str(f.type)
        dtype = schema[f.name]
        if f.name == "ts":
            assert dtype == pl.Datetime("us", "UTC")
        elif t.startswith("int"):
            assert dtype == pl.Int64, f.name
        elif t.startswith("float"):
            assert dtype == pl.Float64, f.name
        else:
            assert dtype == pl.String, f.name
    assert schema["reason"] == pl.String


def test_frame_engine_output_has_exactly_the_schema():
    from logtrace.parsing.rules import ParseOptions, FileContext
    from logtrace_parsers.postfix import PostfixParser

    lines = pl.DataFrame({"line": ["Nov 22 06:25:14 mx1 postfix/qmgr[1]: 4F8B23C0F2: removed", "junk"]}).with_row_index("line_no", offset=1)
    df = PostfixParser(ParseOptions(year=2026, tz="UTC")).parse_frame(lines, FileContext("x", None, ParseOptions(year=2026, tz="UTC")))
    assert df.schema == pl.Schema(event_schema())
    assert df["kind"].to_list() == ["remove", "unparsed"]


texts = st.one_of(st.none(), st.text(max_size=30))
ints = st.one_of(st.none(), st.integers(min_value=0, max_value=2**40))
floats = st.one_of(st.none(), st.floats(min_value=0, max_value=1e7, allow_nan=False))
stamps = st.one_of(st.none(), st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(tzinfo=timezone.utc)))


@st.composite
def events(draw):
    kw = {}
    for f in dataclasses.fields(Event):
        t = str(f.type)
        if f.name in ("file", "line_no"):
            continue
        if f.name == "ts":
            kw[f.name] = draw(stamps)
        elif f.name == "kind":
            kw[f.name] = draw(st.sampled_from(list(EventKind)))
        elif f.name in ("mta", "rule"):
            kw[f.name] = draw(st.text(min_size=1, max_size=10))
        elif t.startswith("int"):
            kw[f.name] = draw(ints)
        elif t.startswith("float"):
            kw[f.name] = draw(floats)
        else:
            kw[f.name] = draw(texts)
    return Event(line_no=draw(st.integers(1, 10**6)), **kw)


@given(events())
def test_jsonl_round_trip_is_identity(ev):
    import json

    back = from_dict(json.loads(json.dumps(to_dict(ev))))
    assert back == ev
    assert back.line_no == ev.line_no


def test_unparsed_round_trip():
    u = Unparsed(reason="no-rule", program="postfix/smtp", detail="x", line_no=7)
    d = to_dict(u)
    assert d == {"line_no": 7, "program": "postfix/smtp", "kind": "unparsed", "detail": "x", "reason": "no-rule"}
    assert from_dict(d).reason == "no-rule"


@given(events())
def test_event_maker_builds_the_same_event_as_the_dataclass(ev):
    """``event_maker`` fills the slots directly (bulk conversion): equal, same hash, same repr, still frozen."""
    import pytest

    from logtrace.events import EVENT_FIELDS, event_maker

    names = list(reversed(EVENT_FIELDS))  # any order of the fields
    made = event_maker(names)(*(getattr(ev, n) for n in names))
    assert made == ev and hash(made) == hash(ev) and repr(made) == repr(ev)
    assert (made.file, made.line_no) == (ev.file, ev.line_no)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.host = "x"  # type: ignore[misc]


def test_event_maker_needs_every_field_once():
    import pytest

    from logtrace.events import EVENT_FIELDS, event_maker

    with pytest.raises(ValueError):
        event_maker(EVENT_FIELDS[:-1])
    with pytest.raises(ValueError):
        event_maker([*EVENT_FIELDS, "host"])
