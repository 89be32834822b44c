"""Exchange parser: public corpus, goldens (both engines), header-driven CSV, totality."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from conftest import REPO, corpus_dir, golden_events
from logtrace.parsing.scan import parse
from logtrace.errors import InputError
from logtrace.parsing.rules import FileContext, ParseOptions
from logtrace_parsers.exchange import FIELDS_2016, ExchangeParser, frame_records

#: the Agent Log's ``#Fields``, as Exchange 2013–2019 write them
AGENT_COLUMNS = ("Timestamp,SessionId,LocalEndpoint,RemoteEndpoint,EnteredOrgFromIP,MessageId,P1FromAddress,P2FromAddresses,"
                 "Recipients,NumRecipients,Agent,Event,Action,SmtpResponse,Reason,ReasonData,Diagnostics,NetworkMsgID,"
                 "TenantID,Directionality").split(",")

SAMPLES = REPO / "sample_logs" / "exchange"
OPTIONS = tomllib.loads((SAMPLES / "options.toml").read_text())
TZ = OPTIONS.get("timezone")
CASES = sorted(p.name for p in SAMPLES.glob("*.log"))


def _events(path: Path, engine: str) -> list[dict]:
    return golden_events(path, "exchange", ParseOptions(tz=TZ), engine)


# ---------------------------------------------------------------------- goldens


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("engine", ["frame", "line"])
def test_golden_events_match_for_both_engines(case, engine, update_goldens):
    path = SAMPLES / case
    golden = path.with_suffix(".events.jsonl")
    got = _events(path, engine)
    n_lines = len(path.read_bytes().decode("utf-16" if "utf16" in case else "utf-8-sig").splitlines())
    assert sorted({e["line_no"] for e in got}) == list(range(1, n_lines + 1)), "every input line must appear"
    if not case.startswith("malformed-"):
        assert not [e for e in got if e["kind"] == "unparsed"], f"{case} must parse completely"
    if update_goldens and engine == "frame":
        golden.write_text("".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in got))
    assert golden.exists(), f"missing {golden.name}: run pytest tests/test_exchange.py --update-goldens"
    want = [json.loads(x) for x in golden.read_text().splitlines()]
    assert got == want, f"regenerate with: pytest tests/test_exchange.py --update-goldens -k {case}"


def test_golden_matches_the_cli_output():
    path = SAMPLES / "relay-to-postfix-then-dsn.log"
    out = subprocess.run([sys.executable, "-m", "logtrace", "parse", str(path), "--mta", "exchange", "--tz", TZ],
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(x) for x in out.splitlines()]
    for r in rows:
        r.pop("file")
    assert rows == [json.loads(x) for x in path.with_suffix(".events.jsonl").read_text().splitlines()]


def test_utf16_export_goes_through_the_cli():
    res = parse([str(SAMPLES / "export-csv-utf16le.log")], mta="auto", options=ParseOptions(tz=TZ), keep_going=False)
    assert res.events.height > 0


# ---------------------------------------------------------------------- semantics


def _frame(text: str | bytes, tz: str | None = None) -> pl.DataFrame:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return ExchangeParser(ParseOptions(tz=tz)).parse_bytes(data)


def test_story_send_to_postfix_links_by_queued_as_and_dsn_references_original():
    ev = _events(SAMPLES / "relay-to-postfix-then-dsn.log", "frame")
    send = next(e for e in ev if e.get("status") == "SEND")
    assert (send["kind"], send["queue_id"], send["next_queue_id"], send["relay_host"]) == (
        "deliver", "5111", "4F8B23C0F2", "relay.example.org")
    dsn = next(e for e in ev if e.get("status") == "DSN")
    assert dsn["kind"] == "notify" and "reference=<20240312101500.story1@example.net>" in dsn["detail"]
    assert send["detail"].startswith("network-message-id=7c1e0f5a-")


def test_fail_recipnotfound_gives_bounce_with_code_and_dsn():
    ev = _events(SAMPLES / "fail-recipnotfound.log", "frame")
    fail = next(e for e in ev if e.get("status") == "FAIL")
    assert (fail["kind"], fail["reply_code"], fail["dsn"], fail["recipient"]) == ("bounce", 550, "5.1.1", "nobody@example.com")
    assert fail["reply_text"] == "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found"


def test_multi_recipient_rows_give_one_event_per_recipient_on_the_same_line():
    ev = [e for e in _events(SAMPLES / "dl-expand-multi-recipient.log", "frame") if e.get("status") == "SEND"]
    assert [e["recipient"] for e in ev] == ["gina@example.com", "hank@example.com", "ivan@example.com"]
    assert {e["line_no"] for e in ev} == {9}
    assert [e["reply_code"] for e in ev] == [250, 550, 250]
    # the 550 is hank's own answer from the next hop: a failure, not a hand-off to its queue
    assert [e["kind"] for e in ev] == ["deliver", "bounce", "deliver"]
    assert [(e.get("next_queue_id"), e.get("next_host")) for e in ev] == [
        ("9500", "ex2.example.com"), (None, None), ("9500", "ex2.example.com")]
    exp = [e for e in _events(SAMPLES / "dl-expand-multi-recipient.log", "frame") if e.get("status") == "EXPAND"]
    assert len(exp) == 3 and {e["orig_recipient"] for e in exp} == {"team@example.com"}


def test_smtp_send_protocol_log_final_data_reply_links_record_id_to_next_queue_id():
    ev = _events(SAMPLES / "smtp-send-protocol-queued-as.log", "frame")
    (reply,) = [e for e in ev if e["rule"] == "exchange.smtp.data_reply"]
    assert (reply["kind"], reply["queue_id"], reply["next_queue_id"], reply["message_id"]) == (
        "deliver", "5111", "4F8B23C0F2", "20240312101500.story1@example.net")
    assert [e["kind"] for e in ev if e["rule"].startswith("exchange.smtp.")][:1] == ["connect"]


def test_smtp_receive_protocol_log_internal_id_is_our_queue_id():
    ev = _events(SAMPLES / "smtp-receive-protocol-internalid.log", "frame")
    (reply,) = [e for e in ev if e["rule"] == "exchange.smtp.data_reply"]
    assert (reply["kind"], reply["queue_id"], reply["host"]) == ("accept", "5111", "ex1.example.com")
    assert "next_queue_id" not in reply


def test_utf16_export_csv_is_decoded_and_local_stamps_use_tz():
    ev = _events(SAMPLES / "export-csv-utf16le.log", "frame")
    rec = next(e for e in ev if e.get("status") == "RECEIVE")
    assert rec["ts"] == "2024-03-12T10:15:02+00:00"  # 11:15:02 AM Europe/Berlin
    expand = next(e for e in ev if e.get("status") == "EXPAND")
    assert "recipient" not in expand  # "System.String[]" is Export-Csv's flattening, not an address
    fails = [e for e in ev if e.get("status") == "FAIL"]
    assert [(e["recipient"], e["dsn"]) for e in fails] == [("nobody@example.com", "5.1.1"), ("other@example.com", "5.1.1")]


@pytest.mark.parametrize("enc", ["utf-16-le-bom", "utf-16-be-bom", "utf-16-le", "utf-8-sig", "utf-8"])
def test_export_encodings_are_detected(enc):
    text = '#TYPE x\r\n"Timestamp","EventId","Recipients","InternalMessageId"\r\n"2024-03-12T10:00:00Z","DELIVER","a@example.com","7"\r\n'
    data = {"utf-16-le-bom": b"\xff\xfe" + text.encode("utf-16-le"), "utf-16-be-bom": b"\xfe\xff" + text.encode("utf-16-be"),
            "utf-16-le": text.encode("utf-16-le"), "utf-8-sig": text.encode("utf-8-sig"), "utf-8": text.encode()}[enc]
    df = _frame(data)
    assert df.filter(pl.col("kind") == "deliver").select("queue_id", "recipient").row(0) == ("7", "a@example.com")


def test_exo_message_trace_statuses_map_to_kinds():
    ev = _events(SAMPLES / "exo-message-trace.log", "frame")
    assert [e["kind"] for e in ev[1:]] == ["deliver", "bounce", "filter", "defer"]
    assert ev[1]["queue_id"] == "6f0c3b1e-8a0d-4b3a-9a1e-08dc42aa1001" and ev[1]["ts"] == "2024-03-12T10:15:02+00:00"


def test_historical_search_report_splits_recipient_status():
    text = ('"origin_timestamp_utc","sender_address","recipient_status","message_subject","total_bytes","message_id",'
            '"network_message_id"\n"2024-03-12T10:00:00.000Z","a@example.com","b@example.org##Receive, Deliver;'
            'c@example.org##Receive, Fail","s","100","<m@example.com>","0000-1111"\n')
    df = _frame(text).filter(pl.col("rule") == "exchange.exo.row")
    assert df.select("recipient", "kind", "queue_id").rows() == [("b@example.org", "deliver", "0000-1111"),
                                                                 ("c@example.org", "bounce", "0000-1111")]


def test_formatted_table_is_refused_with_export_csv_hint():
    text = (corpus_dir("exchange") / "msdocs-get-messagetrackinglog-formatted-table.log").read_text()
    with pytest.raises(InputError) as ei:
        _frame(text)
    assert "Export-Csv" in (ei.value.hint or "")


def test_headerless_rows_of_unknown_shape_ask_for_the_fields_header():
    with pytest.raises(InputError) as ei:
        _frame("2024-03-12T10:00:00.000Z,a,b,c\n")
    assert "without its #Fields header" in (ei.value.hint or "")


def test_sniff_is_certain_for_headers_and_zero_for_syslog_and_exim():
    p = ExchangeParser()
    assert p.sniff(["\ufeff#Software: Microsoft Exchange Server", "#Version: 15.02.1544.004"]) == 1.0
    assert p.sniff(['#TYPE Microsoft.Exchange.Management.TransportLogSearchTasks.MessageTrackingEvent']) == 1.0
    assert p.sniff(['"Received","SenderAddress","RecipientAddress","Subject","Status","MessageTraceId"']) == 1.0
    u16 = ("#Software: Microsoft Exchange Server\r\n#Version: 15.0\r\n").encode("utf-16")
    assert p.sniff([ln.decode("utf-8", "replace") for ln in u16.split(b"\n")]) == 1.0
    assert p.sniff(["Nov 22 06:25:14 mx postfix/smtpd[123]: connect from unknown[192.0.2.1]"]) == 0.0
    assert p.sniff(["2024-03-12 10:15:02 1rK9xQ-0004Zt-2B <= a@example.com H=mx [192.0.2.1] P=esmtp S=100"]) == 0.0
    assert p.sniff(["2024-03-12T10:15:02.123456+01:00 mx postfix/qmgr[1]: 4F8B23C0F2: removed"]) == 0.0


@pytest.mark.parametrize("text", ["", "\x00", "x" * 10_000, "#Fields: a,b", "2024-01-01T00:00:00Z,,,"])
def test_parse_line_never_raises(text):
    ctx = FileContext("t", None, ParseOptions())
    rec = ExchangeParser().parse_line(text, ctx, 1)
    assert rec.line_no == 1


def test_parse_file_lines_gives_the_same_records_as_the_frame():
    data = (SAMPLES / "dl-expand-multi-recipient.log").read_bytes()
    df = _frame(data)
    recs = list(frame_records(df))
    assert len(recs) == df.height and [r.line_no for r in recs] == df.get_column("line_no").to_list()


# ---------------------------------------------------------------------- agent logs

AGENT_SAMPLE = SAMPLES / "agent-log-content-filter.log"
AGENT_HEADER = ("#Software: Microsoft Exchange Server\r\n#Version: 15.0.0.0\r\n#Log-type: Agent Log\r\n"
                "#Date: 2019-03-05T00:00:01.234Z\r\n#Fields: " + ",".join(AGENT_COLUMNS) + "\r\n")


def _agent_row(action: str = "AcceptMessage", recipients: str = "erin@example.com", **kw: str) -> str:
    vals = {"Timestamp": "2019-03-05T09:15:00.000Z", "SessionId": "08D6A0C3D1F2B7A4", "LocalEndpoint": "10.0.0.5:25",
            "RemoteEndpoint": "192.0.2.50:44000", "EnteredOrgFromIP": "192.0.2.50", "MessageId": "<e5f6@example.org>",
            "P1FromAddress": "ok@example.org", "P2FromAddresses": "ok@example.org", "Recipients": recipients,
            "NumRecipients": str(len(recipients.split(";"))), "Agent": "Content Filter Agent", "Event": "OnEndOfData",
            "Action": action, "Directionality": "Incoming", **kw}
    return _csv_line([vals.get(c, "") for c in AGENT_COLUMNS])


def test_agent_log_is_not_read_as_a_protocol_log():
    ev = _events(AGENT_SAMPLE, "frame")
    assert {e["rule"] for e in ev} == {"exchange.header", "exchange.agent.row"}
    rows = [e for e in ev if e["rule"] == "exchange.agent.row"]
    assert {e["program"] for e in rows} == {"Content Filter Agent", "Recipient Filter Agent", "Sender Filter Agent"}
    assert [e["kind"] for e in rows] == ["reject", "reject", "hold", "reject", "other", "discard", "discard", "reject", "other"]
    assert not [e for e in ev if e.get("program", "").startswith("Smtp")]


def test_agent_rows_give_one_event_per_recipient_with_the_row_fields():
    ev = [e for e in _events(AGENT_SAMPLE, "frame") if e["rule"] == "exchange.agent.row"]
    first = [e for e in ev if e["line_no"] == 6]
    assert [e["recipient"] for e in first] == ["bob@example.com", "carol@example.com"]
    a = first[0]
    assert (a["ts"], a["message_id"], a["sender"], a["client_ip"], a["status"], a["nrcpt"]) == (
        "2019-03-05T09:12:44.871000+00:00", "a1b2@example.net", "spammer@example.net", "198.51.100.23", "RejectMessage", 2)
    assert (a["reply_text"], a["reply_code"], a["dsn"]) == (
        "550 5.7.1 Message rejected as spam by Content Filtering.", 550, "5.7.1")
    assert a["detail"] == ("network-message-id=c0ffee00-1111-2222-3333-444455556666; session-id=08D6A0C3D1F2B7A1; "
                           "event=OnEndOfData; reason=SclAtOrAboveRejectThreshold; reason-data=9")
    assert {k: v for k, v in first[1].items() if k != "recipient"} == {k: v for k, v in a.items() if k != "recipient"}
    assert not [e for e in ev if "host" in e or "queue_id" in e]
    assert not [e for e in ev if "DV:" in e.get("detail", "") or "SCL:" in e.get("detail", "")]  # Diagnostics stays out
    rcpt = next(e for e in ev if e["status"] == "RejectCommand" and e["line_no"] == 8)
    assert "message_id" not in rcpt and rcpt["dsn"] == "5.1.10" and rcpt["recipient"] == "x@example.com"
    assert rcpt["reply_text"].endswith("; Recipient not found by SMTP address lookup")  # never split at ';'
    assert rcpt["detail"] == ("session-id=08D6A0C3D1F2B7A3; event=OnRcptCommand; reason=RecipientDoesNotExist; "
                              "reason-data=x@example.com")
    (mail,) = [e for e in ev if e["line_no"] == 11]  # OnMailCommand: no recipients, still one event
    assert "recipient" not in mail and (mail["kind"], mail["reply_code"], mail["nrcpt"]) == ("reject", 554, 0)
    dele = [e for e in ev if e["line_no"] == 10]
    assert [e["client_ip"] for e in dele] == ["10.0.0.9"] * 2
    assert dele[0]["detail"].endswith("; entered-org-from-ip=203.0.113.77; p2-from=billing@example.com")
    assert next(e for e in ev if e["line_no"] == 12)["client_ip"] == "2001:db8::25"


@pytest.mark.parametrize(("action", "kind"), [
    ("RejectMessage", "reject"), ("RejectCommand", "reject"), ("RejectAuthentication", "reject"),
    ("QuarantineMessage", "hold"), ("DeleteMessage", "discard"), ("RedirectMessage", "redirect"),
    ("AcceptMessage", "other"), ("AcceptCommand", "other"), ("Disconnect", "other"), ("Frobnicate", "other"), ("", "other"),
])
def test_agent_actions_map_to_kinds_and_status_keeps_the_action(action, kind):
    df = _frame(AGENT_HEADER + _agent_row(action, "a@example.com;b@example.com") + "\r\n").filter(pl.col("line_no") == 6)
    assert df.select("rule", "kind", "status").rows() == [("exchange.agent.row", kind, action or None)] * 2
    assert df.get_column("recipient").to_list() == ["a@example.com", "b@example.com"]


def test_agent_rule_table_entry_agrees_with_the_frame():
    from logtrace_parsers.exchange import AGENT_ACTION_KINDS, RULES

    (rule,) = [r for r in RULES if r.id == "exchange.agent.row"]
    assert rule.id in ExchangeParser.rule_ids and dict(rule.kind_by[1]) == AGENT_ACTION_KINDS
    text = AGENT_HEADER + "".join(_agent_row(a) + "\r\n" for a in rule.samples)
    got = _frame(text).filter(pl.col("rule") == rule.id).select("status", "kind").rows()
    assert got == [(a, AGENT_ACTION_KINDS.get(a, rule.kind).value) for a in rule.samples]


def test_agent_log_engines_agree_and_match_the_cli_line_engine():
    assert _events(AGENT_SAMPLE, "line") == _events(AGENT_SAMPLE, "frame")
    out = {}
    for engine in ("line", "frame"):
        out[engine] = subprocess.run([sys.executable, "-m", "logtrace", "parse", str(AGENT_SAMPLE), "--engine", engine],
                                     capture_output=True, text=True, check=True).stdout
    assert out["line"] == out["frame"] and '"rule":"exchange.agent.row"' in out["frame"].replace(" ", "")


def test_agent_log_type_wins_over_protocol_like_fields_and_is_sniffed():
    text = ("#Log-type: Agent Log\n#Fields: Timestamp,SessionId,Event,Recipients,Data\n"
            "2019-03-05T09:12:44.871Z,08D6A0C3D1F2B7A1,OnEndOfData,bob@example.com,x\n")
    df = _frame(text)
    assert df.get_column("rule").to_list() == ["exchange.header", "exchange.header", "exchange.agent.row"]
    assert ExchangeParser().sniff(["#Log-type: Agent Log", "#Fields: Timestamp,SessionId"]) == 1.0


def test_headerless_agent_rows_are_recognised_by_count_and_shape_only():
    rows = [ln for ln in AGENT_SAMPLE.read_text(encoding="utf-8-sig").splitlines() if not ln.startswith("#")]
    diags: list = []
    df = ExchangeParser().parse_bytes(("\n".join(rows) + "\n").encode(), diags=diags)
    assert set(df.get_column("rule").to_list()) == {"exchange.agent.row"}
    assert df.filter(pl.col("kind") == "reject").height == 4
    assert [d.message for d in diags] == ["no #Fields header; assumed the Exchange Agent Log layout (20 columns)"]
    with pytest.raises(InputError):  # 20 columns without the Agent Log's shape: today's refusal stays
        _frame("2019-03-05T09:12:44.871Z" + ",x" * 19 + "\n")


def test_agent_export_with_a_header_row_reads_local_stamps_in_tz():
    text = ('"Timestamp","SessionId","Agent","Event","Action","Recipients","SmtpResponse"\n'
            '"3/5/2019 10:12:44 AM","S1","Content Filter Agent","OnEndOfData","RejectMessage","a@example.com","550 5.7.1 spam"\n')
    row = _frame(text, tz="Europe/Berlin").filter(pl.col("line_no") == 2).row(0, named=True)
    assert (row["rule"], row["kind"], row["reply_code"], str(row["ts"])) == (
        "exchange.agent.row", "reject", 550, "2019-03-05 09:12:44+00:00")


# ---------------------------------------------------------------------- public corpus


CORPUS_FILES = [
    "beats-bom8-msgtrk-ex2010.log",
    "kinesis-agent-windows-msgtrk-ex2013.log",
    "elastic-integrations-msgtrk-ex2016-2019.log",
    "elastic-integrations-smtpreceive-protocol.log",
    "elastic-integrations-smtpsend-protocol.log",
    "elastic-integrations-exo-get-messagetrace.jsonl.log",
]


@pytest.mark.parametrize("name", CORPUS_FILES)
@pytest.mark.parametrize("mta", ["exchange", "auto"])
def test_public_corpus_parses_with_no_unparsed_rows(name, mta):
    path = corpus_dir("exchange") / name
    res = parse([str(path)], mta=mta, keep_going=False)
    df = res.events
    assert df.height and df.filter(pl.col("kind") == "unparsed").height == 0
    n = len(path.read_text(encoding="utf-8-sig").splitlines())
    assert sorted(set(df.get_column("line_no").to_list())) == list(range(1, n + 1))
    assert golden_events(path, mta, None, "line") == golden_events(path, mta, None, "frame")


def test_corpus_sendexternal_reply_in_source_context_gives_internal_id_link():
    df = parse([str(corpus_dir("exchange") / "elastic-integrations-msgtrk-ex2016-2019.log")], mta="exchange").events
    row = df.filter(pl.col("status") == "SENDEXTERNAL").row(0, named=True)
    assert (row["kind"], row["next_queue_id"], row["next_host"]) == ("deliver", "5450313518243", "AAAAAAAAAAAAA.bbbbbbbb.prod.outlook.com")
    assert row["host"] == "HELLOWORLD" and row["relay_host"] == "global-mail-onmicrosoft-com.mail.protection.outlook.com"


def test_corpus_formatted_table_is_refused():
    path = corpus_dir("exchange") / "msdocs-get-messagetrackinglog-formatted-table.log"
    with pytest.raises(InputError) as ei:
        parse([str(path)], mta="auto", keep_going=False)
    assert "Export-Csv" in (ei.value.hint or "")


# ---------------------------------------------------------------------- properties

_VALUE = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00\x1f"), max_size=12)


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(FIELDS_2016), drop=st.sets(st.sampled_from(FIELDS_2016[1:]), max_size=8),
       extra=st.lists(st.from_regex(r"x-[a-z]{1,6}", fullmatch=True), max_size=3, unique=True),
       subject=_VALUE, internal=st.integers(1, 10**14))
def test_tracking_columns_are_found_by_name_whatever_the_order(order, drop, extra, subject, internal):
    fields = [f for f in order if f not in drop] + extra
    values = {"date-time": "2024-03-12T10:15:02.104Z", "event-id": "DELIVER", "internal-message-id": str(internal),
              "message-id": "<m@example.com>", "recipient-address": "a@example.com;b@example.com",
              "message-subject": subject, "source": "STOREDRIVER"}
    row = [values.get(f, "ex" if f.startswith("x-") else "") for f in fields]
    text = "#Software: Microsoft Exchange Server\n#Fields: " + ",".join(fields) + "\n" + _csv_line(row) + "\n"
    df = _frame(text).filter(pl.col("line_no") == 3)
    assert df.filter(pl.col("kind") == "unparsed").height == 0
    want_q = str(internal) if "internal-message-id" in fields else None
    want_r = ["a@example.com", "b@example.com"] if "recipient-address" in fields else [None]
    want_k = "deliver" if "event-id" in fields else "other"
    assert df.get_column("queue_id").to_list() == [want_q] * len(want_r)
    assert df.get_column("recipient").to_list() == want_r
    assert set(df.get_column("kind").to_list()) == {want_k}


@settings(max_examples=100, deadline=None)
@given(garbage=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x1f"),
                                max_size=80), min_size=1, max_size=6))
def test_garbage_rows_become_unparsed_with_a_reason_and_parse_never_raises(garbage):
    good = _csv_line(["2024-03-12T10:15:02.104Z"] + [""] * 7 + ["RECEIVE", "42"] + [""] * 20)
    lines = [good, *garbage, good]
    text = "#Fields: " + ",".join(FIELDS_2016) + "\n" + "\n".join(lines) + "\n"
    df = _frame(text)
    assert sorted(set(df.get_column("line_no").to_list())) == list(range(1, len(lines) + 2))
    un = df.filter(pl.col("kind") == "unparsed")
    assert un.filter(pl.col("reason").is_null() | pl.col("detail").is_null()).height == 0
    assert df.filter(pl.col("line_no").is_in([2, len(lines) + 1])).get_column("queue_id").to_list() == ["42", "42"]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=400))
def test_parse_bytes_never_raises_except_input_error(data):
    try:
        df = _frame(b"#Fields: " + ",".join(FIELDS_2016).encode() + b"\n" + data)
    except InputError:
        return
    assert df.height >= 1
