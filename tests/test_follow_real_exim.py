"""End-to-end: a real Exim (and a real Postfix) writes the logs, ``logtrace follow`` explains them.

Exim on a Postfix host: Debian's exim4 packages conflict with postfix, so
``.ci/install-mta.sh`` (``install_exim``) does not install them: it runs
``apt-get download exim4-daemon-light exim4-base exim4-config`` and unpacks them
with ``dpkg -x`` into ``/opt/exim4`` (no dpkg registration -> no conflict),
installs the few missing shared libraries (``libidn12``) and creates the
``Debian-exim`` user the binary needs.  The harness (tests/realmta/exim.py) runs
``/opt/exim4/usr/sbin/exim4 -C <generated config> -bdf -q2s`` as root (root may
use ``-C`` with any root-owned config without losing privileges) on a high
127.0.0.1 port; Exim writes its own main log (``log/exim1.mainlog``, no host
name in the lines).  ``$LOGTRACE_EXIM`` overrides the binary.

Scenarios (tests/realmta/exim_scenarios.py) run once per module: delivered,
deferred-then-delivered (greylist), bounced with the NDR ``<= <> R=<id>``, one
delivered + one bounced recipient, retry-timeout expiry, an ACL RCPT reject, and
(with Postfix mx1 from tests/realmta/postfix.py) exim1 -> mx1, mx1 -> exim1 and
mx1 -> exim1 -> bounce.  Each follow test runs
``python -m logtrace follow <ID|--to ADDR> <exim1.mainlog> [<mx1 log>] --json``.

Skipped when Exim (or, for the cross-MTA tests, Postfix) is unavailable, unless
LOGTRACE_REQUIRE_MTA=1, in which case that is a failure.  Install with:
``bash .ci/install-mta.sh``.  LOGTRACE_MTA_KEEP=1 keeps the generated logs.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from conftest import REQUIRE_MTA as REQUIRE, unavailable  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realmta.common import find_message, find_recipient, run_follow  # noqa: E402
from realmta.exim import LINE_RE, EximLab, exim_available  # noqa: E402
from realmta.exim_scenarios import CROSS, EXIM_ONLY, run_all  # noqa: E402
from realmta.postfix import STYLES, postfix_available  # noqa: E402

pytestmark = pytest.mark.realmta

REPO = Path(__file__).resolve().parents[1]
MX1_NAME = {"rfc3164": "mx1", "rfc3339": "mx1.example.test"}
#: Exim's "** addr: retry timeout exceeded" is the equivalent of Postfix's
#: "status=expired, returned to sender": the parser maps it to an expiry.
EXPIRED_OK = ("expired",)


@pytest.fixture(scope="module")
def exim_run():
    reason = exim_available()
    if reason:
        unavailable(reason, required=REQUIRE)
    with_postfix = postfix_available() is None
    lab = EximLab(with_postfix=with_postfix)
    try:
        lab.start()
        try:
            scenarios = run_all(lab, timeout=60)
        finally:
            lab.stop()  # flushes logs; the files stay until cleanup
        yield lab, scenarios
    finally:
        lab.stop()
        if lab.keep:
            print(f"\nexim harness files kept in {lab.base}")
        lab.cleanup()


def _need_postfix(lab):
    if lab.postfix is None:
        why = postfix_available() or "Postfix lab not started"
        unavailable(f"cross-MTA scenario needs Postfix: {why}", required=REQUIRE)


def _paths(lab, style="rfc3164", mx1=True):
    paths = [str(lab.exim.mainlog)]
    if mx1 and lab.postfix is not None:
        paths.append(str(lab.postfix.hosts["mx1"].logs[style]))
    return paths


def _scenario(exim_run, name):
    lab, scenarios = exim_run
    if name in CROSS:
        _need_postfix(lab)
    s = scenarios[name]
    assert not s.error, f"harness failed for {name}: {s.error}"
    return lab, s


def _check_verdicts(msg, s, code, ctx):
    for addr, verdict in s.recipients.items():
        r = find_recipient(msg, addr, ctx)
        ok = EXPIRED_OK if verdict == "expired" else (verdict,)
        assert r.get("verdict") in ok, f"{addr}: expected {verdict}, got {r.get('verdict')}{ctx}"
        assert r.get("evidence"), f"{addr}: no evidence{ctx}"
        if addr in s.dsn:
            assert r.get("dsn") == s.dsn[addr], f"{addr}: dsn {r.get('dsn')} != {s.dsn[addr]}{ctx}"
    assert code == s.expect_exit, f"exit code {code} != {s.expect_exit}{ctx}"


def _check_ndr(msg, s, ctx):
    if not s.ndr:
        return
    _, ndr_id = s.ndr
    for addr, v in s.recipients.items():
        if v in ("bounced", "expired"):
            ndr = find_recipient(msg, addr, ctx).get("ndr")
            assert ndr and ndr.get("queue_id") == ndr_id, f"{addr}: NDR {ndr_id} not reported{ctx}"


def _norm_mid(v):
    return (v or "").strip().strip("<>")


# --------------------------------------------------------- exim-only --
@pytest.mark.parametrize("name", EXIM_ONLY)
def test_follow_exim_verdicts(exim_run, name):
    lab, s = _scenario(exim_run, name)
    code, data, ctx = run_follow(s.follow_args(), _paths(lab))
    msg = find_message(data, s, ctx)
    _check_verdicts(msg, s, code, ctx)
    if not s.queue_id:
        return
    assert msg.get("sender") == s.sender, ctx
    assert _norm_mid(msg.get("message_id")) == _norm_mid(s.message_id), ctx
    chain = msg.get("chain") or []
    assert chain, ctx
    assert chain[0].get("queue_id") == s.queue_id, ctx
    assert chain[0].get("link") == "origin", ctx
    assert chain[0].get("mta") == "exim", ctx
    ids = {c.get("queue_id"): c for c in chain}
    for host, qid, link in s.chain[1:]:
        assert qid in ids, f"chain lacks {link} hop {host}:{qid}{ctx}"
        assert ids[qid].get("link") == link, ctx
        assert ids[qid].get("mta") == "exim", ctx
    _check_ndr(msg, s, ctx)
    if name in ("delivered", "greylist"):
        r = find_recipient(msg, next(iter(s.recipients)), ctx)
        assert r.get("queue_id") == s.queue_id, ctx
        assert r.get("next_queue_id"), f"far end's 'queued as' id not reported{ctx}"
    if name == "greylist":
        r = find_recipient(msg, next(iter(s.recipients)), ctx)
        assert (r.get("attempts") or 0) >= 2, f"the == (deferred) attempt is not counted{ctx}"


def test_one_rcpt_rejected_by_the_acl_one_delivered(exim_run):
    """The ACL's ``rejected RCPT`` line names no message id; it belongs to the message the same
    session (pid, client, sender) accepts next: that recipient was refused at SMTP time, the
    other was delivered, in one story."""
    lab, s = _scenario(exim_run, "rcpt_partial")
    ok, bad = "ok-partial@ext.example.test", "blocked-partial@ext.example.test"
    code, data, ctx = run_follow(["--from", s.sender], _paths(lab, mx1=False))
    (msg,) = [m for m in data["messages"] if m["sender"] == s.sender] or [None]
    assert msg is not None and len(data["messages"]) == 1, f"one message expected{ctx}"
    assert msg["chain"][0]["queue_id"] == s.queue_id, ctx
    _check_verdicts(msg, s, code, ctx)
    r = find_recipient(msg, bad, ctx)
    assert "at SMTP time" in r["summary"] and "5.7.1 Recipient blocked by local policy" in r["summary"], ctx
    assert r["queue_id"] == s.queue_id, ctx
    assert find_recipient(msg, ok, ctx)["queue_id"] == s.queue_id, ctx

    # follow by the message id: its search brings the session's lines (they name the sender,
    # just before the accept line): the same two verdicts
    code_id, data_id, ctx_id = run_follow([s.queue_id], _paths(lab, mx1=False))
    (msg_id,) = data_id["messages"]
    got_id = {r["recipient"]: r["verdict"] for r in msg_id["recipients"]}
    assert got_id == s.recipients, f"{got_id}{ctx_id}"
    assert "at SMTP time" in find_recipient(msg_id, bad, ctx_id)["summary"], ctx_id

    # every line of the log at hand: the same two verdicts for the message id
    from logtrace import parse
    from logtrace.trace.correlator import Correlator
    from logtrace.trace.follow import rows_to_events

    corr = Correlator(rows_to_events(parse([str(lab.exim.mainlog)]).events))
    (lc,) = corr.find(s.queue_id)
    got = {v.recipient: v.verdict for v in corr.story(lc, s.queue_id).recipients}
    assert got == s.recipients, got

    # bounces: an SMTP-time reject is not a failure after acceptance, unless asked for
    from realmta.common import run_logtrace

    r0, ctx0 = run_logtrace("bounces", str(lab.exim.mainlog), "--json")
    assert s.queue_id not in r0.stdout, ctx0
    r1, ctx1 = run_logtrace("bounces", str(lab.exim.mainlog), "--json", "--include-rejected")
    import json
    items = [m for m in json.loads(r1.stdout)["messages"] if m["chain"][0]["queue_id"] == s.queue_id]
    assert len(items) == 1, ctx1
    assert {x["recipient"]: x.get("category") for x in items[0]["recipients"]} == {ok: None, bad: "rejected"}, ctx1


# --------------------------------------------------------- cross-MTA --
@pytest.mark.parametrize("style", STYLES)
def test_follow_exim_to_postfix(exim_run, style):
    """exim1 -> mx1 -> far end: Exim's C="250 2.0.0 Ok: ... queued as <mx1 id>" links to mx1."""
    lab, s = _scenario(exim_run, "to_postfix")
    code, data, ctx = run_follow([s.queue_id], _paths(lab, style))
    msg = find_message(data, s, ctx)
    _check_verdicts(msg, s, code, ctx)
    assert msg.get("sender") == s.sender, ctx
    assert _norm_mid(msg.get("message_id")) == _norm_mid(s.message_id), ctx
    chain = msg.get("chain") or []
    assert chain and chain[0].get("queue_id") == s.queue_id, ctx
    assert chain[0].get("mta") == "exim" and chain[0].get("link") == "origin", ctx
    ids = {c.get("queue_id"): c for c in chain}
    _, pf_id, _ = s.chain[1]
    assert pf_id in ids, f"chain lacks the mx1 hop {pf_id}{ctx}"
    assert ids[pf_id].get("link") == "relay", ctx
    assert ids[pf_id].get("mta") == "postfix", ctx
    assert ids[pf_id].get("host") == MX1_NAME[style], ctx
    r = find_recipient(msg, next(iter(s.recipients)), ctx)
    assert r.get("host") == MX1_NAME[style], f"verdict should come from mx1's log{ctx}"
    assert r.get("queue_id") == pf_id, ctx


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", ["from_postfix", "from_postfix_bounce"])
def test_follow_postfix_to_exim(exim_run, name, style):
    """mx1 -> exim1: mx1's 'status=sent (250 OK id=<exim id>)' links to Exim's '<='."""
    lab, s = _scenario(exim_run, name)
    code, data, ctx = run_follow([s.queue_id], _paths(lab, style))
    msg = find_message(data, s, ctx)
    _check_verdicts(msg, s, code, ctx)
    assert msg.get("sender") == s.sender, ctx
    assert _norm_mid(msg.get("message_id")) == _norm_mid(s.message_id), ctx
    chain = msg.get("chain") or []
    assert chain and chain[0].get("queue_id") == s.queue_id, ctx
    assert chain[0].get("link") == "origin", ctx
    assert chain[0].get("mta") == "postfix", ctx
    assert chain[0].get("host") == MX1_NAME[style], ctx
    ids = {c.get("queue_id"): c for c in chain}
    _, exim_id, _ = s.chain[1]
    assert exim_id in ids, f"chain lacks the Exim hop {exim_id}{ctx}"
    hop = ids[exim_id]
    assert hop.get("link") == "relay", ctx
    assert hop.get("mta") == "exim", ctx   # host: Exim's main log names none (may be null)
    r = find_recipient(msg, next(iter(s.recipients)), ctx)
    assert r.get("queue_id") == exim_id, f"verdict should come from Exim's log{ctx}"
    _check_ndr(msg, s, ctx)


def test_follow_without_next_hop_log(exim_run):
    """Only one side's log: the hand-off is 'relayed' and names the next hop's id."""
    lab, s = _scenario(exim_run, "from_postfix_bounce")
    code, data, ctx = run_follow([s.queue_id], [str(lab.postfix.hosts["mx1"].logs["rfc3164"])])
    r = find_recipient(find_message(data, s, ctx), next(iter(s.recipients)), ctx)
    assert r.get("verdict") == "relayed", ctx
    assert r.get("next_queue_id") == s.chain[1][1], ctx
    assert code == 0, ctx

    lab, s = _scenario(exim_run, "to_postfix")
    code, data, ctx = run_follow([s.queue_id], _paths(lab, mx1=False))
    r = find_recipient(find_message(data, s, ctx), next(iter(s.recipients)), ctx)
    assert r.get("verdict") == "relayed", ctx
    assert r.get("next_queue_id") == s.chain[1][1], ctx
    assert code == 0, ctx


# ------------------------------------------------------------------ harness --
def test_harness_produces_exim_logs(exim_run):
    lab, scenarios = exim_run
    errors = [f"{n}: {s.error}" for n, s in scenarios.items() if s.error]
    assert not errors, "\n".join(errors)
    text = lab.exim.log_text()
    assert text, f"{lab.exim.mainlog} is empty"
    line_re = re.compile(LINE_RE)
    bad = [ln for ln in text.splitlines() if not line_re.match(ln)]
    assert not bad, f"unexpected exim main log line format: {bad[:3]}"
    texts = {"exim1": text}
    if lab.postfix is not None:
        texts["mx1"] = lab.postfix.hosts["mx1"].log_text("rfc3164")
    for s in scenarios.values():
        assert s.raw, f"{s.name}: no expectations recorded"
        for host, regex in s.raw:
            assert re.search(regex, texts[host], re.M), f"{s.name}: /{regex}/ not in {host}'s log"
    # every kind of line the Exim parser must understand is there
    stamp, eid = LINE_RE, r"\S+-\S+-\S+"
    for what, rx in {
        "arrival": rf"{stamp}{eid} <= \S+@\S+ H=",
        "delivery with C=": rf'{stamp}{eid} => \S+ R=\S+ T=remote_smtp H=\S+ \[127\.0\.0\.1\]:\d+ (K )?C="250 ',
        "deferral": rf"{stamp}{eid} == \S+ R=\S+ T=remote_smtp defer \(-?\d+\) ",
        "bounce": rf"{stamp}{eid} \*\* \S+ ",
        "bounce message": rf"{stamp}{eid} <= <> R={eid} ",
        "completed": rf"{stamp}{eid} Completed$",
        "ACL reject": rf"{stamp}H=.* rejected RCPT <",
    }.items():
        assert re.search(rx, text, re.M), f"no {what} line in {lab.exim.mainlog}"
    assert not (lab.exim.paniclog.exists() and lab.exim.paniclog.read_text().strip()), \
        lab.exim.paniclog.read_text()
    sc = scenarios
    assert sc["rejected"].queue_id is None
    for n in ("bounced", "multi", "expired"):
        assert sc[n].ndr and sc[n].ndr[0] == "exim1", n
        assert [c[2] for c in sc[n].chain] == ["origin", "ndr"], n
    if lab.postfix is not None:
        assert set(CROSS) <= set(sc)
        assert [c[0] for c in sc["to_postfix"].chain] == ["exim1", "mx1"]
        assert [c[0] for c in sc["from_postfix"].chain] == ["mx1", "exim1"]
        assert sc["from_postfix_bounce"].ndr and sc["from_postfix_bounce"].ndr[0] == "exim1"


_STAMP_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)? ")
_MON = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _as_syslog(line: str, keep_own_stamp: bool) -> str | None:
    """An Exim mainlog line as a central syslog file carries it: ``exim[pid]:`` after an RFC 3164
    stamp, the body without Exim's stamp (Exim logging to syslog), or with it (a forwarded
    mainlog, rsyslog imfile)."""
    m = _STAMP_RE.match(line)
    if not m:
        return None  # unstamped continuation lines only exist in the reject log
    mon, day = _MON[int(m.group(2)) - 1], int(m.group(3))
    body = line if keep_own_stamp else line[m.end():]
    return f"{mon} {day:2d} {m.group(4)} exim3 exim[4242]: {body}"


@pytest.mark.parametrize("keep_own_stamp", [False, True], ids=["exim-syslog", "forwarded-mainlog"])
def test_real_postfix_and_exim_lines_in_one_central_syslog_file_are_both_parsed(exim_run, tmp_path, keep_own_stamp):
    """The router: real lines of both labs merged into one file; every Exim line parsed by the
    Exim dialect exactly as from its own mainlog, every Postfix line as from its own file."""
    import polars as pl

    from logtrace.parsing.protocol import ParseOptions
    from logtrace.parsing.scan import parse

    lab, _ = exim_run
    _need_postfix(lab)
    opts = ParseOptions(tz="UTC")
    mainlog = lab.exim.mainlog.read_text(errors="replace").splitlines()
    pf_path = lab.postfix.hosts["mx1"].logs["rfc3164"]
    pf_lines = Path(pf_path).read_text(errors="replace").splitlines()
    exim_lines = [x for x in (_as_syslog(ln, keep_own_stamp) for ln in mainlog) if x]
    central = tmp_path / "mail.log"
    central.write_text("\n".join(pf_lines + exim_lines) + "\n")
    for engine in ("frame", "line"):
        got = parse([str(central)], options=opts, engine=engine).events
        ex = got.filter(pl.col("program") == "exim")
        assert ex.height == len(exim_lines)
        assert ex.filter(pl.col("kind") == "unparsed").height == 0, ex.filter(pl.col("kind") == "unparsed")
        assert set(ex["mta"].to_list()) == {"exim"}
        native = parse([str(lab.exim.mainlog)], mta="exim", options=opts, engine=engine).events
        native = native.filter(pl.col("ts").is_not_null())
        cols = ["rule", "kind", "queue_id", "next_queue_id", "sender", "recipient", "relay_ip", "dsn", "status", "reply_text"]
        assert ex.select(cols).rows() == native.select(cols).rows()
        pf = got.filter(pl.col("mta") == "postfix")
        pf_native = parse([str(pf_path)], options=opts, engine=engine).events.filter(pl.col("mta") == "postfix")
        assert pf.select(cols).rows() == pf_native.select(cols).rows()
        assert pf.height > 0
