"""Postfix rule tables against real lines: rule samples, the public corpus, both engines."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, strategies as st

from conftest import assert_engines_agree, corpus_dir
from logtrace.parsing.scan import parse
from logtrace.parsing.rules import FileContext, ParseOptions, check_parser
from logtrace_parsers.postfix import DAEMONS, PostfixParser

OPTS = ParseOptions(year=2026, tz="UTC")


def test_every_rule_has_samples_that_match_it_first_and_patterns_are_portable():
    assert check_parser(PostfixParser) == []


# Lines of the public corpus that are not Postfix lines or are malformed on purpose,
# each with the reason it may stay unrecognized.
EXCEPTIONS = {
    # sergeymakinen's exporter test file opens with deliberately malformed lines and '#' comments
    "postfix-exporter-sergeymakinen-edgecases.log": {
        **{n: "deliberately malformed (upstream 'Unsupported or malformed' block)" for n in range(1, 11) if n != 2},
        **{n: "section comment line of the upstream test file" for n in (11, 35, 47, 51, 61, 64)},
        **{n: "body 'Unsupported' is an upstream placeholder" for n in (45, 46, 50, 60, 63, 66)},
        55: "malformed on purpose: 'QID: user@…' without to=<>",
        56: "malformed on purpose: 'QID: user@…' without to=<>",
        65: "malformed on purpose: 'from=<…>>' has a doubled '>'",
    },
    # daemontools/multilog TAI64N stamps: dovecot noise, not Postfix
    "fail2ban-tests-dovecot-auth-noise.log": {1: "multilog TAI64N stamp", 2: "multilog TAI64N stamp",
                                               3: "multilog TAI64N stamp", 4: "multilog TAI64N stamp"},
}

FULL_LINE_FILES = [
    "aso-tcd-amavis-reinjection-forwarded-as.log", "aso-tcd-random-sample-2007-solaris-syslog.log",
    "fail2ban-tests-dovecot-auth-noise.log", "fail2ban-tests-postfix.log", "postfix-exporter-hsn723-extra.log",
    "postfix-exporter-kumina-tests.log", "postfix-exporter-sergeymakinen-edgecases.log",
    "wendrowycz-two-days-relay-27k.log", "wendrowycz-unit-bounce-ndr-exim-hop.log",
]


@pytest.mark.parametrize("name", FULL_LINE_FILES)
def test_public_corpus_has_no_unrecognized_postfix_lines(name):
    path = corpus_dir("postfix") / name
    res = parse([str(path)], mta="postfix", options=OPTS)
    bad = res.events.filter(pl.col("kind") == "unparsed")
    allowed = EXCEPTIONS.get(name, {})
    unexpected = [n for n in bad["line_no"].to_list() if n not in allowed]
    lines = path.read_text(errors="replace").splitlines()
    assert not unexpected, "unrecognized: " + "\n".join(f"{n}: {lines[n - 1][:160]}" for n in unexpected[:10])
    # an exception that now parses must be removed from the list
    stale = [n for n in allowed if n not in set(bad["line_no"].to_list())]
    assert not stale, f"exceptions no longer needed: {stale}"
    assert res.events.height == len(lines)


@pytest.mark.parametrize("name", FULL_LINE_FILES)
def test_both_engines_agree_on_the_corpus(name):
    assert_engines_agree(corpus_dir("postfix") / name, "postfix", OPTS)


# The grok/SEKOIA files hold message bodies only; the daemon is known per file or per line range.
MSG_FILES = {
    "grok-patterns-smtpd.msg.log": "smtpd", "grok-patterns-smtp.msg.log": "smtp", "grok-patterns-postscreen.msg.log": "postscreen",
    "grok-patterns-cleanup.msg.log": "cleanup", "grok-patterns-qmgr.msg.log": "qmgr", "grok-patterns-bounce.msg.log": "bounce",
    "grok-patterns-postsuper.msg.log": "postsuper",
}
AGENTS = {1: "discard", 2: "error", 3: "error", 4: "lmtp", 5: "local", 6: "local", 7: "local",
          8: "pipe", 9: "pipe", 10: "pipe", 11: "pipe", 12: "virtual"}
MISC = [(range(1, 10), "anvil"), (range(10, 13), "dnsblog"), (range(13, 17), "master"), (range(17, 18), "pickup"),
        (range(18, 19), "postdrop"), (range(19, 20), "postmap"), (range(20, 24), "scache"), (range(24, 25), "postfix-script"),
        (range(25, 26), "sendmail"), (range(26, 27), "tlsmgr"), (range(27, 29), "tlsproxy"), (range(29, 31), "trivial-rewrite"),
        (range(31, 33), "verify")]


def _daemon_for(name: str, n: int) -> str | None:
    if name in MSG_FILES:
        return MSG_FILES[name]
    if name == "grok-patterns-delivery-agents.msg.log":
        return AGENTS[n]
    if name == "grok-patterns-misc-daemons.msg.log":
        return next(d for r, d in MISC if n in r)
    return None


@pytest.mark.parametrize("name", [*MSG_FILES, "grok-patterns-delivery-agents.msg.log", "grok-patterns-misc-daemons.msg.log"])
def test_message_only_corpus_files_match_their_daemon_rules(name):
    p = PostfixParser(OPTS)
    lines = (corpus_dir("postfix") / name).read_text().splitlines()
    missed = []
    for n, body in enumerate(lines, 1):
        d = _daemon_for(name, n)
        ev = p.parse_line(f"Nov 22 06:25:14 mx1 postfix/{d}[123]: {body}", FileContext("t", None, OPTS), n)
        if ev.kind == "unparsed":
            missed.append(f"{n}: {body[:120]}")
    assert not missed, "\n".join(missed)


# SEKOIA's bodies carry no program name; lines from policyd-spf, postgrey and spamd are
# not Postfix, and some upstream lines end in a stray syslog byte count (" 148").
NON_POSTFIX = re.compile(r"^(?:Action: prepend|prepend Received-SPF|(?:Pass|Fail|None|Neutral|Softfail|Permerror|Temperror);|"
                         r"action=|[0-9A-F]+: action=|whitelisted: |dns: |spamd: )")
STRAY_COUNT = re.compile(r"\) \d{2,3}$| \d{2,3}$")


def test_sekoia_postfix_bodies_are_recognized_by_some_daemon():
    p = PostfixParser(OPTS)
    lines = (corpus_dir("postfix") / "sekoia-intake-formats-postfix-and-neighbours.msg.log").read_text().splitlines()
    missed = []
    checked = 0
    for n, body in enumerate(lines, 1):
        if NON_POSTFIX.match(body) or STRAY_COUNT.search(body):
            continue
        checked += 1
        ok = any(p.classify_body(p.daemon_aliases.get(d, d), body) for d in DAEMONS if not d.startswith("post") or d == "postscreen")
        if not ok:
            missed.append(f"{n}: {body[:120]}")
    assert checked > 50
    assert not missed, "\n".join(missed)


def test_amavis_reinjection_fixture_parses_links():
    path = str(corpus_dir("postfix") / "aso-tcd-amavis-reinjection-forwarded-as.log")
    df = parse([path], options=OPTS).events
    nexts = df.filter(pl.col("next_queue_id").is_not_null()).select("queue_id", "next_queue_id").rows()
    assert ("34B3F4317", "8B22B43C3") in nexts  # amavis: '… from MTA(…): 250 Ok: queued as 8B22B43C3'
    assert ("8B22B43C3", "9627443F0") in nexts  # local: 'forwarded as 9627443F0'
    assert df["host"].unique().to_list() == ["relay.cs.tcd.ie"]  # Solaris '[ID 197553 mail.info]' stripped


def test_exim_and_exchange_next_hop_replies_give_next_queue_ids():
    p = PostfixParser(OPTS)
    ctx = FileContext("t", None, OPTS)
    base = ("Feb 25 03:46:37 vps305 postfix/smtp[9469]: 2376E65202A: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, "
            "delay=1.4, delays=0.07/0/0.44/0.85, dsn=2.0.0, status=sent ")
    ev = p.parse_line(base + "(250 OK id=1WUWWi-0000ig-Gu)", ctx, 1)
    assert ev.next_queue_id == "1WUWWi-0000ig-Gu"
    ev = p.parse_line(base + "(250 2.6.0 <x@y> [InternalId=123456789, Hostname=EX01.example.com] Queued mail for delivery)", ctx, 2)
    assert (ev.next_queue_id, ev.next_host) == ("123456789", "EX01.example.com")
    ev = p.parse_line(base + "(250 2.0.0 Ok: queued as 4TwNdH5zwCz7fxV)", ctx, 3)
    assert ev.next_queue_id == "4TwNdH5zwCz7fxV"
    assert (ev.reply_code, ev.dsn, ev.relay_port, ev.delay_conn_s) == (250, "2.0.0", 25, 0.44)


def test_multi_instance_and_service_prefixed_program_names_select_the_daemon():
    p = PostfixParser(OPTS)
    for prog in ("postfix-out/smtp", "postfix/submission/smtpd", "postfix/relay/smtp", "postfix-mx1/qmgr"):
        assert p.daemon_of(prog) in ("smtp", "smtpd", "qmgr")
    assert p.daemon_of("dovecot") is None
    assert p.daemon_of("smtpd") is None  # a bare 'smtpd' is OpenSMTPD, not Postfix


@given(st.text(max_size=300))
def test_parse_line_never_raises(text):
    p = PostfixParser(OPTS)
    ctx = FileContext("t", None, OPTS)
    p.parse_line(text, ctx, 1)
    p.parse_line("Nov 22 06:25:14 mx1 postfix/smtp[1]: " + text, ctx, 2)


@st.composite
def delivery_lines(draw):
    qid = draw(st.text("0123456789ABCDEF", min_size=6, max_size=12))
    user = draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12))
    status = draw(st.sampled_from(["sent", "deferred", "bounced"]))
    dsn = {"sent": "2.0.0", "deferred": "4.4.1", "bounced": "5.1.1"}[status]
    delay = draw(st.integers(0, 99999))
    port = draw(st.integers(1, 65535))
    reply = draw(st.sampled_from(["250 2.0.0 Ok: queued as ABCDEF123", "host x[192.0.2.1] said: 550 5.1.1 no",
                                  "connect to x[192.0.2.1]:25: Connection timed out"]))
    line = (f"Nov 22 06:25:14 mx1 postfix/smtp[42]: {qid}: to=<{user}@example.com>, relay=mx.example.net[192.0.2.7]:{port}, "
            f"delay={delay}, delays=0.1/0/0.2/0.3, dsn={dsn}, status={status} ({reply})")
    return line, {"queue_id": qid, "recipient": f"{user}@example.com", "relay_port": port, "dsn": dsn, "status": status,
                  "delay_s": float(delay)}


@given(st.lists(delivery_lines(), min_size=1, max_size=8))
def test_generated_delivery_lines_are_recovered_identically_by_both_engines(items):
    p = PostfixParser(OPTS)
    ctx = FileContext("t", None, OPTS)
    lines = [l for l, _ in items]
    frame = p.parse_frame(pl.DataFrame({"line": lines}).with_row_index("line_no", offset=1), FileContext("t", None, OPTS))
    for i, (line, want) in enumerate(items):
        ev = p.parse_line(line, ctx, i + 1)
        row = frame.row(i, named=True)
        for k, v in want.items():
            assert getattr(ev, k) == v, k
            assert row[k] == v, k
        assert row["kind"] == str(ev.kind)
