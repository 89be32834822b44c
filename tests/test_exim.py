"""Exim rule tables against real lines: rule samples, the public corpus, goldens, both engines.

Regenerate the goldens with ``LOGTRACE_UPDATE_GOLDENS=1 pytest tests/test_exim.py -k golden``
(or ``--update-goldens``), then review ``git diff sample_logs/exim``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, strategies as st

from conftest import REPO, assert_engines_agree, corpus_dir, golden_events
from logtrace.parsing.scan import parse
from logtrace.parsing.rules import FileContext, ParseOptions, check_parser
from logtrace_parsers.exim import RULES, EximParser
from logtrace_parsers.postfix import PostfixParser

SAMPLES = REPO / "sample_logs" / "exim"
OPTS = ParseOptions(**tomllib.loads((SAMPLES / "options.toml").read_text()))
CASES = sorted(p.name for p in SAMPLES.glob("*.log"))


def test_every_rule_has_samples_that_match_it_first_and_patterns_are_portable():
    assert check_parser(EximParser) == []


# ---------------------------------------------------------------- corpus

# Lines of the public corpus that may stay unrecognized, with the reason.
_ACL_LOGWRITE = "test-suite configuration's own ACL/event 'logwrite' text without a message id (free-form by design)"
EXCEPTIONS: dict[str, dict[int, str]] = {
    "testsuite-0612-dsn-rcpt-options-bounces.log": {n: _ACL_LOGWRITE for n in (1, 13, 36, 56, 66, 77, 91, 105, 115)},
    "testsuite-4530-dkim-tls-server.log": {n: _ACL_LOGWRITE for n in (39, 46, 53, 60, 67, 74, 81, 89, 91, 96)},
}
# The dovecot file holds no Exim line: its lines belong to the dovecot dialect, even with --mta exim
# (in a syslog file every dialect claims its own programs).
OTHER_PROGRAM_FILES = {"whm-grok-tests-dovecot-imap-lmtp.log"}


def _corpus_files() -> list[str]:
    d = REPO.parent / "shared" / "corpus" / "public" / "exim"
    return sorted(p.name for p in d.glob("*.log")) if d.is_dir() else ["(corpus missing)"]


@pytest.mark.parametrize("name", _corpus_files())
def test_public_corpus_has_no_unrecognized_exim_lines(name):
    path = corpus_dir("exim") / name
    res = parse([str(path)], mta="exim", options=OPTS)
    lines = path.read_text(errors="replace").splitlines()
    assert res.events.height == len(lines)
    assert res.events["line_no"].to_list() == list(range(1, len(lines) + 1))
    bad = set(res.events.filter(pl.col("kind") == "unparsed")["line_no"].to_list())
    allowed = EXCEPTIONS.get(name, {})
    unexpected = sorted(bad - set(allowed))
    assert not unexpected, "unrecognized: " + "\n".join(f"{n}: {lines[n - 1][:160]}" for n in unexpected[:10])
    stale = sorted(set(allowed) - bad)
    assert not stale, f"exceptions no longer needed: {stale}"
    if name in OTHER_PROGRAM_FILES:
        assert set(res.events["mta"].to_list()) == {"dovecot"}
        # the Dovecot dialect's delivery results (saved mail to INBOX), the rest recognized as other
        saved = res.events.filter(pl.col("kind") == "deliver")
        assert set(res.events["kind"].to_list()) <= {"other", "deliver", "connect", "disconnect"}
        assert all("saved mail to" in lines[n - 1] for n in saved["line_no"].to_list())
        assert set(saved["detail"].to_list()) <= {"INBOX"} and saved["recipient"].null_count() == 0


@pytest.mark.parametrize("name", _corpus_files())
def test_both_engines_agree_on_the_corpus(name):
    assert_engines_agree(corpus_dir("exim") / name, "exim", OPTS)


@pytest.mark.parametrize("name", [n for n in _corpus_files() if n not in OTHER_PROGRAM_FILES])
def test_sniff_claims_exim_files_and_postfix_does_not(name):
    head = (corpus_dir("exim") / name).read_text(errors="replace").splitlines()[:60]
    assert EximParser().sniff(head) == 1.0
    assert PostfixParser().sniff(head) == 0.0


def test_sniff_gives_postfix_syslog_zero():
    head = (REPO / "sample_logs" / "postfix" / "lab-mx1.log").read_text().splitlines()[:60]
    head += ["2026-11-22 06:25:14 mx1 postfix/smtpd[123]: connect from unknown[192.0.2.1]"]
    assert EximParser().sniff(head) == 0.0
    assert EximParser().sniff(["garbage", "", "#Fields: date-time,client-ip"]) == 0.0


# ---------------------------------------------------------------- goldens

def _events(path: Path, engine: str) -> list[dict]:
    return golden_events(path, "exim", OPTS, engine)


@pytest.mark.parametrize("engine", ["frame", "line"])
@pytest.mark.parametrize("case", CASES)
def test_golden_events(case, engine, update_goldens):
    log = SAMPLES / case
    golden = log.with_suffix(".events.jsonl")
    got = _events(log, engine)
    n_lines = len(log.read_text().splitlines())
    assert [e["line_no"] for e in got] == list(range(1, n_lines + 1)), "every input line must yield exactly one event"
    if update_goldens and engine == "frame":
        golden.write_text("".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in got))
    assert golden.exists(), f"missing {golden.name}: run LOGTRACE_UPDATE_GOLDENS=1 pytest tests/test_exim.py -k golden"
    want = [json.loads(ln) for ln in golden.read_text().splitlines()]
    for w, g in zip(want, got, strict=True):
        assert g == w, f"{case}:{w['line_no']} ({engine}) differs; regenerate with LOGTRACE_UPDATE_GOLDENS=1 and review the diff"
    if not case.startswith("malformed-"):
        assert not [e for e in got if e["kind"] == "unparsed"]


def test_every_rule_appears_in_a_golden():
    seen: set[str] = set()
    for case in CASES:
        seen.update(json.loads(ln)["rule"] for ln in (SAMPLES / case).with_suffix(".events.jsonl").read_text().splitlines())
    missing = sorted({r.id for r in RULES} - seen)
    assert not missing, f"add a line for these rules to a sample_logs/exim case: {missing}"


# ---------------------------------------------------------------- conventions the correlator relies on

def _one(line: str, path: str = "mainlog") -> object:
    return EximParser(OPTS).parse_line(line, FileContext(path, None, OPTS), 1)


def test_bounce_accept_links_the_ndr_back_to_the_original_message():
    ev = _one("2020-06-19 04:54:02 1jmFas-0004f6-EB <= <> R=1jmFYj-00039V-QX U=Debian-exim P=local S=8656")
    assert (ev.kind, ev.queue_id, ev.next_queue_id, ev.status, ev.sender) == (
        "accept", "1jmFas-0004f6-EB", "1jmFYj-00039V-QX", "bounce-of", "")


def test_remote_confirmation_is_reply_text_and_yields_the_next_hop_id():
    ev = _one('2026-11-22 06:25:15 1tixMn-00000000C5j-1wRa => bob@example.net R=dnslookup T=remote_smtp '
              'H=mx.example.net [203.0.113.25]:587* C="250 OK id=1tixMp-00000000C5l-3yTc" QT=1m2s DT=0.5s')
    assert (ev.reply_text, ev.reply_code, ev.next_queue_id) == ("250 OK id=1tixMp-00000000C5l-3yTc", 250, "1tixMp-00000000C5l-3yTc")
    assert (ev.relay_host, ev.relay_ip, ev.relay_port) == ("mx.example.net", "203.0.113.25", 587)
    assert (ev.delay_s, ev.delay_xmit_s) == (62.0, 0.5)


def test_zone_suffixed_and_millisecond_stamps_are_converted_to_utc():
    ev = _one("2026-11-22 06:25:14.123 +0100 [42] 1tixMn-00000000C5j-1wRa Completed")
    assert (ev.ts.isoformat(), ev.pid, ev.kind) == ("2026-11-22T05:25:14.123000+00:00", 42, "remove")


def test_syslog_wrapped_lines_take_host_from_the_envelope_and_exim_stamp_wins():
    ev = _one("Nov 22 07:00:00 mx1 exim[7]: 2026-11-22 06:25:14 +0100 1tixMn-00000000C5j-1wRa Completed")
    assert (ev.host, ev.program, ev.pid, ev.ts.isoformat()) == ("mx1", "exim", 7, "2026-11-22T05:25:14+00:00")


def test_panic_log_lines_are_panic_events():
    ev = _one("2020-05-26 14:01:40 1jdghf-00034W-No DKIM: signing failed: RSA_LONG_LINE", path="/var/log/exim4/paniclog")
    assert (ev.kind, ev.rule, ev.queue_id) == ("panic", "exim.paniclog.entry", "1jdghf-00034W-No")


# ---------------------------------------------------------------- robustness

@given(st.text(max_size=300))
def test_parse_line_never_raises(text):
    p = EximParser(OPTS)
    ctx = FileContext("t", None, OPTS)
    p.parse_line(text, ctx, 1)
    p.parse_line("2026-11-22 06:25:14 1tixMn-00000000C5j-1wRa " + text, ctx, 2)
    p.parse_line("Nov 22 06:25:14 mx1 exim[1]: " + text, ctx, 3)


@given(st.lists(st.sampled_from([
    "2026-11-22 06:25:14 1tixMn-00000000C5j-1wRa ** a@example.com R=r T=t H=mx.example.com [192.0.2.1]: SMTP error "
    "from remote mail server after RCPT TO:<a@example.com>: 550 5.1.1 unknown",
    "2026-11-22 06:25:14 1tixMn-00000000C5j-1wRa == a@example.com R=r T=t defer (-44) H=mx [192.0.2.1]: x",
    "2026-11-22 06:25:14 H=(x) [192.0.2.1] F=<> rejected RCPT <a@example.com>: no",
    "2026-11-22 06:25:14 1tixMn-00000000C5j-1wRa U=CALLER F=<> rejected after DATA: no",
    "Envelope-from: <a@example.com>", "P Received: from x", "\tby y", "I Message-Id: <m@example.com>", "",
    "junk line", "Nov 22 06:25:14 mx1 exim[1]: 1tixMn-00000000C5j-1wRa Completed",
]), min_size=1, max_size=12))
def test_engines_agree_on_generated_mixes(lines):
    p = EximParser(OPTS)
    ctx_l = FileContext("rejectlog", None, OPTS)
    frame = p.parse_frame(pl.DataFrame({"line": lines}).with_row_index("line_no", offset=1), FileContext("rejectlog", None, OPTS))
    assert frame["line_no"].to_list() == list(range(1, len(lines) + 1))
    for i, line in enumerate(lines):
        ev = p.parse_line(line, ctx_l, i + 1)
        row = frame.row(i, named=True)
        assert row["kind"] == str(ev.kind), line
        for k in ("ts", "queue_id", "rule", "sender", "recipient", "reply_code", "message_id"):
            assert row.get(k) == getattr(ev, k, None), (k, line)


# ---------------------------------------------------------------- envelope fast path


def _envelope_both(raw: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    from logtrace_parsers.exim.table import ENVELOPE

    lines = pl.DataFrame({"line_no": list(range(1, len(raw) + 1)), "line": raw}, schema={"line_no": pl.UInt32, "line": pl.String})
    slow = lines.with_columns(pl.col("line").str.extract_groups(ENVELOPE).alias("_e")).unnest("_e")
    return EximParser._envelope(lines).select(slow.columns), slow


EDGE_LINES = [
    "2026-11-21 00:00:00 1xUYWO-008U1B-aC <= a@b.example H=x [192.0.2.1] P=esmtp S=1",
    "2026-11-21 00:00:00.123 1xUYWO-008U1B-aC => a@b.example R=r T=t",
    "2026-11-21 00:00:00 +0100 1xUYWO-008U1B-aC Completed",
    "2026-11-21 00:00:00 [1234] 1xUYWO-008U1B-aC Completed",
    "2026-11-21 00:00:00 -0500 [77] Start queue run: pid=77",
    "2026-11-21 00:00:00 mx1 exim[123]: 1xUYWO-008U1B-aC Completed",
    "2026-11-21 00:00:00 mx1 exim: Start queue run",
    "2026-11-21 00:00:00  two spaces",
    "2026-11-21 00:00:00 ",
    "2026-11-21 00:00:00",
    "Nov 21 00:00:00 mx1 exim[123]: 2026-11-21 00:00:00 1xUYWO-008U1B-aC Completed",
    "2026-11-21T00:00:00+01:00 mx1 exim[5]: 1xUYWO-008U1B-aC Completed",
    "  continuation of a reject log dump",
    "2026-11-21 00:00:00 Δ non-ASCII body ümlaut",
    "",
]


@pytest.mark.parametrize("source", ["edge", "corpus", "samples"])
def test_envelope_fast_path_equals_the_envelope_regex(source):
    """Exim's default log form is cut by position (parse_frame's fast path); every row must get
    exactly the groups :data:`ENVELOPE` gives, on edge shapes, the corpus and the samples."""
    if source == "edge":
        raws = [EDGE_LINES]
    else:
        d = corpus_dir("exim") if source == "corpus" else (REPO / "sample_logs/exim")
        raws = [p.read_bytes().decode("utf-8", "replace").splitlines() for p in sorted(d.glob("*.log"))]
        assert raws
    for raw in raws:
        fast, slow = _envelope_both(raw)
        assert fast.equals(slow), [r for r, s in zip(fast.rows(), slow.rows()) if r != s][:3]
