"""Scripted mail scenarios run through a :class:`~realmta.postfix.PostfixLab`.

``run_all(lab)`` injects every scenario's message at once, then waits (bounded)
until each one has reached its terminal log lines, and returns
``{name: Scenario}``.  Each :class:`Scenario` carries the queue ID to follow
(``None`` for the RCPT-reject case: follow with ``--to``), the host it starts
on, the expected per-recipient verdicts, the IDs seen along the way and the
raw log lines the harness itself checks.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

from .postfix import PostfixLab


@dataclass
class Scenario:
    name: str
    host: str                                # instance the message entered ("mx1")
    sender: str
    recipients: dict[str, str]               # recipient -> expected verdict
    message_id: str = ""
    queue_id: str | None = None              # ID to follow (None: use --to)
    follow_to: str | None = None             # address for --to when queue_id is None
    follow_from: str | None = None           # address for --from when queue_id is None
    dsn: dict[str, str] = field(default_factory=dict)     # recipient -> expected dsn
    expect_exit: int = 0
    # ids discovered while waiting: list of (host, queue_id, link)
    chain: list[tuple[str, str, str]] = field(default_factory=list)
    ndr: tuple[str, str] | None = None       # (host, ndr queue id)
    raw: list[tuple[str, str]] = field(default_factory=list)  # (host, regex) expected in logs
    error: str | None = None                 # set when the harness failed for this scenario
    message_id_logged: bool = True           # False: rejected by header_checks before the Message-ID header
    body: str = "Hello.\n"
    port: int | None = None                  # the smtpd to inject into (None: the host's main one)
    attachment: tuple[str, bytes] | None = None

    def follow_args(self) -> list[str]:
        if self.queue_id:
            return [self.queue_id]
        return ["--from", self.follow_from] if self.follow_from else ["--to", self.follow_to or ""]


def _msgid(name: str) -> str:
    return f"<{name}.{os.urandom(4).hex()}@client.example.org>"


def _sent_to(lab: PostfixLab, host: str, qid: str, rcpt: str, timeout: float) -> str:
    """Wait for '<qid>: to=<rcpt>, ... status=sent (...queued as X)' and return X."""
    m = lab.hosts[host].wait_for(
        rf"\b{qid}: to=<{re.escape(rcpt)}>, .*status=sent \(.*queued as ([0-9A-Za-z]+)\)",
        timeout)
    return m.group(1)


def _ndr(lab: PostfixLab, host: str, qid: str, timeout: float) -> str:
    m = lab.hosts[host].wait_for(
        rf"\b{qid}: sender non-delivery notification: ([0-9A-Za-z]+)", timeout)
    return m.group(1)


#: the real content filters' scenarios (issue 17): amavisd-new's destinies and rspamd as a milter
FILTER_SCENARIOS = ("content_filter", "filter_discard", "amavis_quarantine", "amavis_banned", "amavis_bounce", "amavis_pass",
                    "amavis_split", "rspamd_reject", "rspamd_discard", "rspamd_pass")


#: run only when ``only`` names them (tests/test_last_mile_real.py: the real filters, the Sieve redirect); the
#: look-alike filter's old scenarios (content_filter, filter_discard) run always, on the real amavisd-new when installed
ON_REQUEST = frozenset(FILTER_SCENARIOS) - {"content_filter", "filter_discard"} | {"sieve_redirect"}


#: amavis' task ID in its SMTP reply (``id=…``): ``PID-N`` for a child's N-th session, ``PID-N-M`` for the
#: M-th message of that session: Postfix reuses a cached connection to the filter when the next message
#: for the same port is ready as the last one finishes (timing-dependent: the harness must accept both)
AM_ID = r"\d+-\d+(?:-\d+)?"
#: seconds a filter's own log line may trail Postfix's line of the filter's reply
FILTER_LOG_LAG = 15.0


def _wait_filter_log(lab: PostfixLab, which: str, regex: str, timeout: float) -> None:
    """Wait for a line of the session's amavis (syslog file) or rspamd (its own log file).

    Called once Postfix logged the filter's reply: the filter logged its line before replying, only
    the private rsyslogd's write may lag on busy cores, so the wait is never shorter than
    :data:`FILTER_LOG_LAG` even when the scenarios' shared deadline has run out."""
    from .common import wait_for_text
    timeout = max(timeout, FILTER_LOG_LAG)
    f = lab.filters
    path = f.logs["rfc3164"] if which == "amavis" else f.rspamd.log  # type: ignore[union-attr]
    wait_for_text(which, lambda: path.read_text(errors="replace") if path.exists() else "", regex, timeout)


def run_all(lab: PostfixLab, timeout: float = 60.0, only: "set[str] | frozenset[str] | None" = None) -> dict[str, Scenario]:
    """Run every scenario (or those named in ``only``)."""
    sc: dict[str, Scenario] = {}
    from .filters import GTUBE
    spam = f"This is the GTUBE, the Generic Test for Unsolicited Bulk Email.\n\n{GTUBE}\n"

    def add(s: Scenario) -> Scenario:
        if (s.name not in only) if only is not None else (s.name in ON_REQUEST):
            return s
        sc[s.name] = s
        s.message_id = s.message_id or _msgid(s.name)
        return s

    # ---------------------------------------------------------- define ----
    add(Scenario("delivered", "mx1", "alice@example.org",
                 {"ok-delivered@ext.example.test": "relayed"}, dsn={"ok-delivered@ext.example.test": "2.0.0"}))
    add(Scenario("relay_mx2", "mx1", "bob@example.org",
                 {"ok-relay@via-mx2.example.test": "relayed"}))
    add(Scenario("relay_bounce", "mx1", "carol@example.org",
                 {"unknown-relay@via-mx2.example.test": "bounced"},
                 dsn={"unknown-relay@via-mx2.example.test": "5.1.1"}, expect_exit=4))
    add(Scenario("greylist", "mx1", "dave@example.org",
                 {"greylist-1@ext.example.test": "relayed"}))
    add(Scenario("expired", "mx2", "erin@example.org",
                 {"tempfail-expire@ext.example.test": "expired"}, expect_exit=4))
    add(Scenario("rejected", "mx1", "frank@example.org",
                 {"blocked@ext.example.test": "rejected"},
                 dsn={"blocked@ext.example.test": "5.7.1"},
                 follow_to="blocked@ext.example.test", expect_exit=4))
    add(Scenario("multi", "mx1", "grace@example.org",
                 {"ok-multi@ext.example.test": "relayed",
                  "unknown-multi@ext.example.test": "bounced"},
                 dsn={"unknown-multi@ext.example.test": "5.1.1"}, expect_exit=4))
    add(Scenario("deleted", "mx1", "heidi@example.org",
                 {"tempfail-delete@ext.example.test": "deleted"}, expect_exit=4))
    add(Scenario("content_filter", "mx1", "ivan@example.org",
                 {"ok-filter@filtered.example.test": "relayed"}))
    # issue 15: verdicts a postmaster can bet on
    real_amavis = getattr(lab, "amavis", None) is not None
    add(Scenario("filter_discard", "mx1", "judy@example.org",
                 {"spam-discard@filtered.example.test": "discarded"},
                 dsn={"spam-discard@filtered.example.test": "2.7.0"}, expect_exit=4, body=spam if real_amavis else "Hello.\n"))
    add(Scenario("hold_deleted", "mx1", "kim@example.org",
                 {"ok-hold@ext.example.test": "deleted"}, expect_exit=4))
    add(Scenario("hold_released", "mx1", "olga@example.org",
                 {"ok-released@ext.example.test": "relayed"}))
    add(Scenario("header_reject", "mx1", "leo@example.org",
                 {"ok-hdrrej@ext.example.test": "rejected"},
                 dsn={"ok-hdrrej@ext.example.test": "5.7.1"}, expect_exit=4, message_id_logged=False))
    add(Scenario("rcpt_reject_qid", "mx1", "mallory@example.org",
                 {"ok-partial@ext.example.test": "relayed", "blocked-partial@ext.example.test": "rejected"},
                 dsn={"blocked-partial@ext.example.test": "5.7.1"}, expect_exit=4))
    add(Scenario("sender_reject", "mx1", "spammer@bad.example.test",
                 {"ok-spammer@ext.example.test": "rejected"},
                 dsn={"ok-spammer@ext.example.test": "5.7.1"},
                 follow_from="spammer@bad.example.test", follow_to="ok-spammer@ext.example.test", expect_exit=4))
    add(Scenario("requeued", "mx1", "nina@example.org",
                 {"requeue-1@ext.example.test": "relayed"}))
    # the filter's reply names no queue ID: only smtpd's XFORWARD orig_queue_id= links the hops
    add(Scenario("filter_no_id", "mx1", "paul@example.org",
                 {"noid-filter@filtered.example.test": "relayed"}))
    # local(8) alias expansion "forwarded as X"; X then bounces on mx1 (far end 550) or on mx2
    add(Scenario("alias_bounce", "mx1", "quinn@example.org",
                 {"fwd-bounce@local.example.test": "bounced"},
                 dsn={"fwd-bounce@local.example.test": "5.1.1"}, expect_exit=4))
    add(Scenario("alias_relay_bounce", "mx1", "rita@example.org",
                 {"fwd-relay@local.example.test": "bounced"},
                 dsn={"fwd-relay@local.example.test": "5.1.1"}, expect_exit=4))

    # issue 17: the last mile: mx1 -> mx2 -> Dovecot over LMTP (one transaction, four recipients:
    # the 2nd..4th get the session ID with :R2..:R4), INBOX, Sieve fileinto Junk, Sieve discard, quota
    if getattr(lab, "dovecot", None) is not None:
        add(Scenario("mailbox", "mx1", "sven@example.org",
                     {"inbox@mbox.example.test": "delivered", "junk@mbox.example.test": "delivered",
                      "drop@mbox.example.test": "discarded-by-sieve", "full@mbox.example.test": "bounced"},
                     dsn={"full@mbox.example.test": "5.2.2"}, expect_exit=4))
        # Sieve redirect: fwd@'s script sends the message on to inbox@; Dovecot submits the copy to mx1
        # (submission_host), a new message with the same Message-ID: mx1 -> mx2 -> Dovecot again
        add(Scenario("sieve_redirect", "mx1", "tess@example.org", {"fwd@mbox.example.test": "delivered"}))

    # issue 17: the real content filters. amavisd-new (SpamAssassin; GTUBE is spam, *.exe is banned), one
    # policy bank per destiny: quarantine (two recipients: one amavis line names both), banned, bounce, pass
    if real_amavis:
        add(Scenario("amavis_quarantine", "mx1", "tom@example.org",
                     {"spam-q1@filtered.example.test": "discarded", "spam-q2@filtered.example.test": "discarded"},
                     dsn={"spam-q1@filtered.example.test": "2.7.0"}, expect_exit=4, body=spam))
        add(Scenario("amavis_banned", "mx1", "uma@example.org", {"banned@filtered.example.test": "discarded"},
                     dsn={"banned@filtered.example.test": "2.7.0"}, expect_exit=4,
                     attachment=("invoice.exe", b"MZ\x90\x00 not really a program\n")))
        add(Scenario("amavis_bounce", "mx1", "vera@example.org", {"bounce-filter@filtered.example.test": "discarded"},
                     dsn={"bounce-filter@filtered.example.test": "2.5.0"}, expect_exit=4, body=spam))
        add(Scenario("amavis_pass", "mx1", "walt@example.org", {"pass-filter@filtered.example.test": "relayed"}, body=spam))
        # one transaction, two destinies: the spam lover's copy passes, the other is quarantined (amavis logs two lines)
        add(Scenario("amavis_split", "mx1", "wren@example.org",
                     {"spam-lover@filtered.example.test": "relayed", "spam-q3@filtered.example.test": "quarantined"},
                     expect_exit=4, body=spam))
    # rspamd as a milter on mx1's third smtpd: GTUBE is rejected at end of data (SMTP time), a listed
    # recipient is discarded, a clean message passes
    if getattr(lab, "mx1_milter_port", None):
        mp = lab.mx1_milter_port
        add(Scenario("rspamd_reject", "mx1", "xena@example.org", {"spam@rspamd.example.test": "rejected"},
                     dsn={"spam@rspamd.example.test": "5.7.1"}, expect_exit=4, body=spam, port=mp))
        add(Scenario("rspamd_discard", "mx1", "yann@example.org", {"discard@rspamd.example.test": "discarded"},
                     expect_exit=4, port=mp))
        add(Scenario("rspamd_pass", "mx1", "zoe@example.org", {"ok@rspamd.example.test": "relayed"}, port=mp))

    # ---------------------------------------------------------- inject ----
    for s in sc.values():
        qid, replies, data_reply = lab.send(s.host, s.sender, list(s.recipients),
                                            subject=f"logtrace scenario {s.name}", message_id=s.message_id,
                                            body=s.body, port=s.port, attachment=s.attachment)
        if s.name == "rspamd_reject" and qid is None:  # the milter's reject: told at end of data
            if not data_reply or data_reply[0] != 554 and data_reply[0] != 550:
                s.error = f"rspamd reject expected at end of data, got {data_reply}"
                continue
            m = lab.hosts[s.host].wait_for(r"cleanup\[\d+\]: ([0-9A-F]+): milter-reject: END-OF-MESSAGE from \S+: "
                                           r"\S+ .*; from=<xena@example\.org> to=<spam@rspamd\.example\.test>", timeout)
            qid = m.group(1)
        if s.name == "header_reject" and qid is None:  # header_checks REJECT: told at end of data, no "queued as"
            if not data_reply or data_reply[0] != 550:
                s.error = f"header_checks REJECT expected at end of data, got {data_reply}"
                continue
            m = lab.hosts[s.host].wait_for(
                r"cleanup\[\d+\]: ([0-9A-F]+): reject: header Subject: logtrace scenario header_reject from ", timeout)
            qid = m.group(1)
        s.queue_id = qid
        if s.follow_to is None and s.follow_from is None and qid is None:
            s.error = f"no queue id; RCPT replies: {replies}"
        if qid:
            s.chain.append((s.host, qid, "origin"))

    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    # ------------------------------------------------------------ wait ----
    def wait(s: Scenario) -> None:
        h = lab.hosts[s.host]
        q = s.queue_id
        if s.name == "rejected":
            s.raw.append(("mx1", r"NOQUEUE: reject: RCPT from \S+: 550 5\.7\.1 <blocked@ext\.example\.test>"))
            h.wait_for(s.raw[-1][1], left())
            return
        if s.name == "sender_reject":
            s.raw.append(("mx1", r"NOQUEUE: reject: RCPT from \S+: 554 5\.7\.1 <spammer@bad\.example\.test>: Sender address rejected: "
                                 r"Sender blocked by local policy; from=<spammer@bad\.example\.test> to=<ok-spammer@ext\.example\.test>"))
            h.wait_for(s.raw[-1][1], left())
            return
        if s.name == "header_reject":
            s.raw.append(("mx1", rf"\b{q}: reject: header Subject: logtrace scenario header_reject from \S+; "
                                 rf"from=<leo@example\.org> to=<ok-hdrrej@ext\.example\.test> proto=ESMTP helo=<[^>]*>: 5\.7\.1 message content rejected$"))
            h.wait_for(s.raw[-1][1], left())
            return
        if s.name == "rspamd_reject":
            s.raw.append(("mx1", rf"\b{q}: milter-reject: END-OF-MESSAGE from \S+: 5\.7\.1 .*; from=<xena@example\.org> "
                                 r"to=<spam@rspamd\.example\.test> proto=ESMTP helo=<[^>]*>$"))
            h.wait_for(s.raw[-1][1], left())
            _wait_filter_log(lab, "rspamd", rf"qid: <{q}>, .*\(reject\)", left())
            return
        if s.name == "rspamd_discard":
            s.raw.append(("mx1", rf"\b{q}: milter-discard: END-OF-MESSAGE from \S+: milter triggers DISCARD action; "
                                 r"from=<yann@example\.org> to=<discard@rspamd\.example\.test> proto=ESMTP helo=<[^>]*>$"))
            h.wait_for(s.raw[-1][1], left())
            _wait_filter_log(lab, "rspamd", rf"qid: <{q}>, .*\(discard\)", left())
            return
        if s.name in ("hold_deleted", "hold_released"):
            rcpt = next(iter(s.recipients))
            s.raw.append(("mx1", rf"\b{q}: hold: header Subject: logtrace scenario {s.name} from \S+; "
                                 rf"from=<{re.escape(s.sender)}> to=<{re.escape(rcpt)}> proto=ESMTP helo=<[^>]*>: held for review$"))
            h.wait_for(s.raw[-1][1], left())
            opt, done = ("-d", "Deleted: 1 message") if s.name == "hold_deleted" else ("-H", "Released from hold: 1 message")
            while True:
                r = h.postsuper(opt, q, "hold")
                if done in (r.stderr + r.stdout):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postsuper {opt} {q} hold never did it: {r.stderr}")
                time.sleep(0.2)
            if s.name == "hold_deleted":
                s.raw.append(("mx1", rf"postsuper\[\d+\]: {q}: removed$"))
                h.wait_for(s.raw[-1][1], left())
                return
            _sent_to(lab, "mx1", q, rcpt, left())
            h.wait_removed(q, left())
            s.raw += [("mx1", rf"postsuper\[\d+\]: {q}: released from hold$"),
                      ("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, .*status=sent \(250 2\.0\.0 Ok: queued as ")]
            return
        if s.name == "requeued":
            rcpt = next(iter(s.recipients))
            h.wait_for(rf"\b{q}: to=<{re.escape(rcpt)}>, .*status=deferred", left())
            while True:  # requeue once it sits in the deferred queue
                r = h.postsuper("-r", q, "deferred")
                if "Requeued: 1 message" in (r.stderr + r.stdout):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postsuper -r {q} never requeued it: {r.stderr}")
                time.sleep(0.2)
            h.run("postkick", "public", "pickup", "W", check=False)  # else pickup wakes up within 60s
            m = h.wait_for(rf"pickup\[\d+\]: ([0-9A-F]+): uid=\d+ from=<{re.escape(s.sender)}> orig_id={q}$", left())
            q2 = m.group(1)
            lab.sink.release(rcpt)
            s.chain.append(("mx1", q2, "requeued"))
            _sent_to(lab, "mx1", q2, rcpt, left())
            h.wait_removed(q2, left())
            s.raw += [("mx1", rf"postsuper\[\d+\]: {q}: requeued$"),
                      ("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, .*dsn=4\.4\.1, status=deferred"),
                      ("mx1", rf"pickup\[\d+\]: {q2}: uid=\d+ from=<{re.escape(s.sender)}> orig_id={q}$"),
                      ("mx1", rf"\b{q2}: to=<{re.escape(rcpt)}>, .*status=sent \(250 2\.0\.0 Ok: queued as ")]
            return
        if s.name == "deleted":
            h.wait_for(rf"\b{q}: to=<tempfail-delete@ext\.example\.test>, .*status=deferred", left())
            while True:  # delete only once it sits in the deferred queue
                r = h.postsuper("-d", q, "deferred")
                if "Deleted: 1 message" in (r.stderr + r.stdout):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postsuper -d {q} never deleted it: {r.stderr}")
                time.sleep(0.2)
            s.raw += [("mx1", rf"postsuper\[\d+\]: {q}: removed$"),
                      ("mx1", rf"\b{q}: to=<tempfail-delete@.*dsn=4\.4\.1, status=deferred")]
            h.wait_for(s.raw[0][1], left())
            return
        h.wait_removed(q, left())
        s.raw.append((s.host, rf"\b{q}: removed$"))
        if s.name in ("delivered", "greylist"):
            rcpt = next(iter(s.recipients))
            _sent_to(lab, "mx1", q, rcpt, left())
            s.raw.append(("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, .*status=sent \(250 2\.0\.0 Ok: queued as "))
            if s.name == "greylist":
                s.raw.append(("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, .*dsn=4\.7\.1, status=deferred .*greylisted"))
        elif s.name in ("relay_mx2", "relay_bounce"):
            rcpt = next(iter(s.recipients))
            q2 = _sent_to(lab, "mx1", q, rcpt, left())
            s.chain.append(("mx2", q2, "relay"))
            lab.hosts["mx2"].wait_removed(q2, left())
            s.raw += [("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lab.mx2_port}, .*status=sent \(250 2\.0\.0 Ok: queued as {q2}\)"),
                      ("mx2", rf"\b{q2}: removed$")]
            if s.name == "relay_mx2":
                s.raw.append(("mx2", rf"\b{q2}: to=<{re.escape(rcpt)}>, .*status=sent \(250 2\.0\.0 Ok: queued as "))
            else:
                n = _ndr(lab, "mx2", q2, left())
                s.ndr = ("mx2", n)
                lab.hosts["mx2"].wait_removed(n, left())
                s.raw += [("mx2", rf"\b{q2}: to=<{re.escape(rcpt)}>, .*dsn=5\.1\.1, status=bounced \(host .* said: 550 5\.1\.1 "),
                          ("mx2", rf"\b{n}: to=<{re.escape(s.sender)}>, .*status=sent"),
                          ("mx2", rf"\b{n}: removed$")]
        elif s.name == "expired":
            n = _ndr(lab, "mx2", q, left())
            s.ndr = ("mx2", n)
            lab.hosts["mx2"].wait_removed(n, left())
            s.raw += [("mx2", rf"\b{q}: to=<tempfail-expire@ext\.example\.test>, .*status=deferred"),
                      ("mx2", rf"\b{q}: from=<{re.escape(s.sender)}>, status=expired, returned to sender"),
                      ("mx2", rf"\b{n}: removed$")]
        elif s.name == "multi":
            _sent_to(lab, "mx1", q, "ok-multi@ext.example.test", left())
            n = _ndr(lab, "mx1", q, left())
            s.ndr = ("mx1", n)
            h.wait_removed(n, left())
            s.raw += [("mx1", rf"\b{q}: to=<unknown-multi@ext\.example\.test>, .*dsn=5\.1\.1, status=bounced .*in reply to RCPT TO command"),
                      ("mx1", rf"\b{q}: to=<ok-multi@ext\.example\.test>, .*status=sent"),
                      ("mx1", rf"\b{n}: removed$")]
        elif s.name == "filter_discard":
            rcpt = next(iter(s.recipients))
            port = lab.filter_ports["drop"] if real_amavis else lab.filter.port
            s.raw.append(("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port}, .*dsn=2\.7\.0, "
                                 rf"status=sent \(250 2\.7\.0 Ok, discarded, id={AM_ID} - spam\)$"))
            h.wait_for(s.raw[-1][1], left())
            if real_amavis:
                _wait_filter_log(lab, "amavis", rf"Blocked SPAM \{{DiscardedInbound\}}, .*Queue-ID: {q}, ", left())
        elif s.name in ("amavis_quarantine", "amavis_banned", "amavis_bounce"):
            port = lab.filter_ports["bounce" if s.name == "amavis_bounce" else "port"]
            dsn, said = ("2.5.0", rf"Ok, id={AM_ID}, BOUNCE") if s.name == "amavis_bounce" else ("2.7.0", rf"Ok, discarded, id={AM_ID} - .+")
            for rcpt in s.recipients:
                s.raw.append(("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port}, .*dsn={re.escape(dsn)}, "
                                     rf"status=sent \(250 {re.escape(dsn)} {said}\)$"))
                h.wait_for(s.raw[-1][1], left())
            what = {"amavis_quarantine": r"SPAM \{DiscardedInbound,Quarantined\}", "amavis_banned": r"BANNED .*\{DiscardedInbound,Quarantined\}",
                    "amavis_bounce": r"SPAM \{BouncedInbound\}"}[s.name]
            _wait_filter_log(lab, "amavis", rf"Blocked {what}, .*Queue-ID: {q}, ", left())
        elif s.name == "amavis_pass":
            rcpt = next(iter(s.recipients))
            q2 = _sent_to(lab, "mx1", q, rcpt, left())
            s.chain.append(("mx1", q2, "content-filter"))
            h.wait_removed(q2, left())
            _wait_filter_log(lab, "amavis", rf"Passed SPAM .*Queue-ID: {q}, .*queued_as: {q2}", left())
            s.raw += [("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lab.filter_ports['passes']}, "
                              rf".*status=sent \(250 2\.0\.0 .*queued as {q2}\)"),
                      ("mx1", rf"\b{q2}: to=<{re.escape(rcpt)}>, .*status=sent \(250 2\.0\.0 Ok: queued as ")]
        elif s.name == "amavis_split":
            m = h.wait_for(rf"\b{q}: to=<spam-lover@filtered\.example\.test>, .*status=sent \(.*queued as ([0-9A-Za-z]+), but 1 DISCARD\)",
                           left())
            q2 = m.group(1)
            s.chain.append(("mx1", q2, "content-filter"))
            h.wait_removed(q2, left())
            _wait_filter_log(lab, "amavis", rf"Blocked SPAM \{{[^}}]*Quarantined\}}, .*<spam-q3@filtered\.example\.test>, .*Queue-ID: {q}, ",
                             left())
            s.raw += [("mx1", rf"\b{q}: to=<spam-q3@filtered\.example\.test>, .*status=sent \(.*queued as {q2}, but 1 DISCARD\)"),
                      ("mx1", rf"\b{q2}: to=<spam-lover@filtered\.example\.test>, .*status=sent \(250 2\.0\.0 Ok: queued as ")]
        elif s.name == "rspamd_pass":
            rcpt = next(iter(s.recipients))
            _sent_to(lab, "mx1", q, rcpt, left())
            _wait_filter_log(lab, "rspamd", rf"qid: <{q}>, .*\(no action\)", left())
            s.raw.append(("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, .*status=sent \(250 2\.0\.0 Ok: queued as "))
        elif s.name == "rcpt_reject_qid":
            _sent_to(lab, "mx1", q, "ok-partial@ext.example.test", left())
            s.raw += [("mx1", rf"\b{q}: reject: RCPT from \S+: 550 5\.7\.1 <blocked-partial@ext\.example\.test>: Recipient address rejected: "
                              r"Recipient blocked by local policy; from=<mallory@example\.org> to=<blocked-partial@ext\.example\.test>"),
                      ("mx1", rf"\b{q}: to=<ok-partial@ext\.example\.test>, .*status=sent")]
        elif s.name == "filter_no_id":
            rcpt = next(iter(s.recipients))
            m = h.wait_for(rf"smtpd\[\d+\]: ([0-9A-F]+): client=localhost\[127\.0\.0\.1\], orig_queue_id={q}, "
                           r"orig_client=localhost\[127\.0\.0\.1\]$", left())
            q2 = m.group(1)
            s.chain.append(("mx1", q2, "content-filter"))
            h.wait_removed(q2, left())
            s.raw += [("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lab.filter.port}, .*status=sent "
                              rf"\(250 2\.0\.0 Ok, id=\S+, from MTA\(\[127\.0\.0\.1\]:{lab.mx1_reinject}\): 250 2\.0\.0 Ok\)$"),
                      ("mx1", rf"\b{q2}: to=<{re.escape(rcpt)}>, .*status=sent \(250 2\.0\.0 Ok: queued as ")]
        elif s.name in ("alias_bounce", "alias_relay_bounce"):
            rcpt = next(iter(s.recipients))
            m = h.wait_for(rf"\b{q}: to=<{re.escape(rcpt)}>, relay=local, .*status=sent \(forwarded as ([0-9A-F]+)\)", left())
            q2 = m.group(1)
            s.chain.append(("mx1", q2, "forwarded"))
            final = "unknown-fwd@ext.example.test" if s.name == "alias_bounce" else "unknown-fwd@via-mx2.example.test"
            if s.name == "alias_bounce":
                n = _ndr(lab, "mx1", q2, left())
                s.ndr = ("mx1", n)
                h.wait_removed(n, left())
            else:
                q3 = _sent_to(lab, "mx1", q2, final, left())
                s.chain.append(("mx2", q3, "relay"))
                n = _ndr(lab, "mx2", q3, left())
                s.ndr = ("mx2", n)
                lab.hosts["mx2"].wait_removed(n, left())
            s.raw += [("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, relay=local, .*status=sent \(forwarded as {q2}\)"),
                      (s.ndr[0], rf"to=<{re.escape(final)}>, .*dsn=5\.1\.1, status=bounced ")]
        elif s.name == "mailbox":
            q2 = _sent_to(lab, "mx1", q, "inbox@mbox.example.test", left())
            s.chain.append(("mx2", q2, "relay"))
            n = _ndr(lab, "mx2", q2, left())
            s.ndr = ("mx2", n)
            lab.hosts["mx2"].wait_removed(q2, left())
            lab.hosts["mx2"].wait_removed(n, left())
            s.raw += [("mx2", rf"\b{q2}: to=<inbox@mbox\.example\.test>, .*status=sent \(250 2\.0\.0 <inbox@mbox\.example\.test> \S+ Saved\)"),
                      ("mx2", rf"\b{q2}: to=<full@mbox\.example\.test>, .*dsn=5\.2\.2, status=bounced .*Quota exceeded")]
        elif s.name == "sieve_redirect":
            q2 = _sent_to(lab, "mx1", q, "fwd@mbox.example.test", left())
            s.chain.append(("mx2", q2, "relay"))
            lab.hosts["mx2"].wait_for(rf"\b{q2}: to=<fwd@mbox\.example\.test>, .*status=sent \(250 2\.0\.0 <fwd@mbox\.example\.test> \S+ Saved\)",
                                      left())
            # the copy Dovecot submitted: mx1's second message with this Message-ID
            m = h.wait_for(rf"\b(?!{q}:)([0-9A-F]+): message-id={re.escape(s.message_id)}$", left())
            q3 = m.group(1)
            s.chain.append(("mx1", q3, "redirected"))
            q4 = _sent_to(lab, "mx1", q3, "inbox@mbox.example.test", left())
            s.chain.append(("mx2", q4, "relay"))
            lab.hosts["mx2"].wait_removed(q4, left())
            s.raw += [("mx1", rf"\b{q}: to=<fwd@mbox\.example\.test>, .*status=sent \(250 2\.0\.0 Ok: queued as {q2}\)"),
                      ("mx2", rf"\b{q4}: to=<inbox@mbox\.example\.test>, .*status=sent \(250 2\.0\.0 <inbox@mbox\.example\.test> \S+ Saved\)")]
        elif s.name == "content_filter":
            rcpt = next(iter(s.recipients))
            q2 = _sent_to(lab, "mx1", q, rcpt, left())
            s.chain.append(("mx1", q2, "content-filter"))
            h.wait_removed(q2, left())
            port = lab.filter_ports["port"]
            said = (rf"250 2\.0\.0 from MTA\(smtp:\[127\.0\.0\.1\]:{lab.mx1_reinject}\): 250 2\.0\.0 Ok: queued as {q2}" if real_amavis else
                    rf"250 2\.0\.0 Ok, id=\S+, from MTA\(\[127\.0\.0\.1\]:{lab.mx1_reinject}\): 250 2\.0\.0 Ok: queued as {q2}")
            if real_amavis:
                _wait_filter_log(lab, "amavis", rf"Passed CLEAN .*Queue-ID: {q}, .*queued_as: {q2}", left())
            s.raw += [("mx1", rf"NOQUEUE: filter: RCPT from \S+: <{re.escape(rcpt)}>: Recipient address triggers FILTER amavis:\[127\.0\.0\.1\]:{port}; from=<{re.escape(s.sender)}>"),
                      ("mx1", rf"\b{q}: to=<{re.escape(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{port}, .*status=sent \({said}\)"),
                      ("mx1", rf"\b{q2}: to=<{re.escape(rcpt)}>, .*status=sent \(250 2\.0\.0 Ok: queued as "),
                      ("mx1", rf"\b{q2}: removed$")]

    for s in sc.values():
        if s.error:
            continue
        try:
            wait(s)
        except (TimeoutError, RuntimeError) as e:
            s.error = f"{type(e).__name__}: {e}"
            if s.queue_id:  # every line naming the message, the filters' included, for the failure report
                mine = [ln for h in lab.hosts.values() for ln in h.log_text().splitlines() if s.queue_id in ln]
                f = getattr(lab, "filters", None)
                if f is not None and f.logs["rfc3164"].exists():
                    mine += [ln for ln in f.logs["rfc3164"].read_text(errors="replace").splitlines()
                             if s.queue_id in ln or "(!" in ln]
                s.error += "\nlines of this message:\n" + "\n".join(mine[-40:])
    return sc
