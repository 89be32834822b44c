"""The mailbox hops of one LMTP transaction do not depend on where a second boundary falls.

Captured from the real lab (tests/realmta: Postfix 3.7 mx1 -> mx2 -> Dovecot 2.3.19 over LMTP,
the ``mailbox`` scenario): one transaction with four recipients, so Dovecot's session ID gets
``:R2``… for the later ones. ``full@`` is over quota: Postfix's bounce names no session ID, so
that session (``:R2``) is named on Dovecot's side only and must stay unlinked; the other three
are linked by the session ID in Postfix's ``250 … Saved`` replies.

Dovecot's own log file has whole-second stamps and no host; Postfix through rsyslog's RFC 3339
template has microseconds. When Dovecot's second ticked between the ``drop@`` line and the
``full@`` line, the weak Message-ID link used to pair mx2's lifecycle (starting within the first
second) with the ``:R2`` session (starting, by its floored stamp, after it): three ``:R`` hops
instead of two (test_follow_real_postfix.py::test_follow_into_the_mailbox_with_real_dovecot
[rfc3339] failed once in about eight CI runs). Here the same lines are re-stamped with every
offset of the second boundary, in both timestamp styles.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from logtrace.parsing.protocol import ParseOptions
from logtrace.trace.follow import follow, story_to_json

OPTS = ParseOptions(year=2026, tz="UTC")
SOCK = "/tmp/ltmta-6rk1tdpn/dovecot/run/lmtp"
MID = "mailbox.241b82cf@client.example.org"
SESSION = "EgIyK12uB2txBAAAg+zDdQ"

#: (seconds after 03:58:21, host, syslog tag, message) as the lab's rsyslog wrote them (RFC 3339 file)
POSTFIX = [
    (0.662810, "mx1", "postfix-mx1/smtpd[863]", "A1CDA22252B: client=localhost[127.0.0.1]"),
    (0.678907, "mx1", "postfix-mx1/cleanup[1099]", f"A1CDA22252B: message-id=<{MID}>"),
    (0.679426, "mx1", "postfix-mx1/qmgr[862]", "A1CDA22252B: from=<sven@example.org>, size=518, nrcpt=4 (queue active)"),
    *[(0.690327, "mx1", "postfix-mx1/smtp[1135]",
       f"A1CDA22252B: to=<{u}@mbox.example.test>, relay=127.0.0.1[127.0.0.1]:38367, delay=0.03, delays=0.02/0/0/0.01, "
       "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as A6347222523)") for u in ("drop", "full", "inbox", "junk")],
    (0.690502, "mx1", "postfix-mx1/qmgr[862]", "A1CDA22252B: removed"),
    (0.680858, "mx2", "postfix-mx2/smtpd[1108]", "A6347222523: client=localhost[127.0.0.1]"),
    (0.681781, "mx2", "postfix-mx2/cleanup[1110]", f"A6347222523: message-id=<{MID}>"),
    (0.683693, "mx2", "postfix-mx2/qmgr[1096]", "A6347222523: from=<sven@example.org>, size=674, nrcpt=4 (queue active)"),
    (0.771608, "mx2", "postfix-mx2/lmtp[1136]",
     f"A6347222523: to=<drop@mbox.example.test>, relay=mx2.example.test[{SOCK}], delay=0.09, delays=0/0.01/0.03/0.05, "
     f"dsn=2.0.0, status=sent (250 2.0.0 <drop@mbox.example.test> {SESSION} Saved)"),
    (0.772198, "mx2", "postfix-mx2/lmtp[1136]",
     f"A6347222523: to=<full@mbox.example.test>, relay=mx2.example.test[{SOCK}], delay=0.09, delays=0/0.01/0.03/0.05, "
     f"dsn=5.2.2, status=bounced (host mx2.example.test[{SOCK}] said: 552 5.2.2 <full@mbox.example.test> Quota exceeded "
     "(mailbox for user is full) (in reply to end of DATA command))"),
    (0.772215, "mx2", "postfix-mx2/lmtp[1136]",
     f"A6347222523: to=<inbox@mbox.example.test>, relay=mx2.example.test[{SOCK}], delay=0.09, delays=0/0.01/0.03/0.05, "
     f"dsn=2.0.0, status=sent (250 2.0.0 <inbox@mbox.example.test> {SESSION}:R3 Saved)"),
    (0.772221, "mx2", "postfix-mx2/lmtp[1136]",
     f"A6347222523: to=<junk@mbox.example.test>, relay=mx2.example.test[{SOCK}], delay=0.09, delays=0/0.01/0.03/0.05, "
     f"dsn=2.0.0, status=sent (250 2.0.0 <junk@mbox.example.test> {SESSION}:R4 Saved)"),
    (0.773114, "mx2", "postfix-mx2/cleanup[1109]", "BCA8D222413: message-id=<20261126035821.BCA8D222413@mx2.example.test>"),
    (0.773549, "mx2", "postfix-mx2/qmgr[1096]", "BCA8D222413: from=<>, size=2808, nrcpt=1 (queue active)"),
    (0.774370, "mx2", "postfix-mx2/bounce[1128]", "A6347222523: sender non-delivery notification: BCA8D222413"),
    (0.774668, "mx2", "postfix-mx2/qmgr[1096]", "A6347222523: removed"),
    (0.874136, "mx2", "postfix-mx2/smtp[1122]",
     "BCA8D222413: to=<sven@example.org>, relay=127.0.0.1[127.0.0.1]:42335, delay=0.1, delays=0/0/0.06/0.04, dsn=2.0.0, "
     "status=sent (250 2.0.0 Ok: queued as 018708B046)"),
    (0.874751, "mx2", "postfix-mx2/qmgr[1096]", "BCA8D222413: removed"),
]
#: Dovecot's own log (``log_path``): the lab's lines; the sub-second part is not logged, so these are
#: times between mx2's queue manager line and its LMTP client's first result, in Dovecot's order
DOVECOT = [
    (0.700, "lmtp(1137): Info: Connect from local"),
    (0.745, f"lmtp(drop@mbox.example.test)<1137><{SESSION}>: Info: sieve: msgid=<{MID}>: discard action: "
            "Marked message to be discarded if not explicitly delivered (discard action)"),
    (0.755, f"lmtp(full@mbox.example.test)<1137><{SESSION}:R2>: Info: msgid=<{MID}>: save failed to INBOX: "
            "Quota exceeded (mailbox for user is full)"),
    (0.762, f"lmtp(inbox@mbox.example.test)<1137><{SESSION}:R3>: Info: msgid=<{MID}>: saved mail to INBOX"),
    (0.768, f"lmtp(junk@mbox.example.test)<1137><{SESSION}:R4>: Info: sieve: msgid=<{MID}>: fileinto action: "
            "stored mail into mailbox 'Junk'"),
    (0.775, "lmtp(1137): Info: Disconnect from local: Logged out (state=READY)"),
]
BASE = datetime(2026, 11, 26, 3, 58, 21, tzinfo=timezone.utc)
#: the chain follow must tell: (queue ID, link, linked from)
CHAIN = {("A1CDA22252B", "origin", None), ("A6347222523", "relay", "A1CDA22252B"),
         (SESSION, "mailbox", "A6347222523"), (f"{SESSION}:R3", "mailbox", "A6347222523"),
         (f"{SESSION}:R4", "mailbox", "A6347222523"), ("BCA8D222413", "ndr", "A6347222523")}
VERDICTS = {"drop@mbox.example.test": "discarded-by-sieve", "full@mbox.example.test": "bounced",
            "inbox@mbox.example.test": "delivered", "junk@mbox.example.test": "delivered"}


def _classic(t: datetime) -> str:
    return t.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1) if t.day < 10 else t.strftime("%b %d %H:%M:%S")


def _write(tmp: Path, style: str, shift: float) -> list[str]:
    """The captured lines with every clock moved by ``shift`` seconds: Postfix as rsyslog writes
    them in ``style``, Dovecot's own file with its whole-second stamps (the file order is each
    writer's: by time)."""
    paths = []
    for host in ("mx1", "mx2"):
        rows = sorted((s, tag, msg) for s, h, tag, msg in POSTFIX if h == host)
        lines = []
        for s, tag, msg in rows:
            t = BASE + timedelta(seconds=s + shift)
            if style == "rfc3339":
                lines.append(f"{t.isoformat(timespec='microseconds')} {host}.example.test {tag}: {msg}")
            else:
                lines.append(f"{_classic(t)} {host} {tag}: {msg}")
        p = tmp / f"{host}.{style}.log"
        p.write_text("\n".join(lines) + "\n")
        paths.append(str(p))
    dv = tmp / "dovecot.log"
    dv.write_text("".join(f"{_classic(BASE + timedelta(seconds=s + shift))} {msg}\n" for s, msg in DOVECOT))
    return paths + [str(dv)]


#: every 10 ms of the second: Dovecot's second ticks between any two of its lines, or before or after them all
SHIFTS = [i / 100 for i in range(100)]


@pytest.mark.parametrize("style", ["rfc3164", "rfc3339"])
def test_lmtp_session_hops_do_not_depend_on_where_the_second_ticks(tmp_path, style):
    bad = []
    for shift in SHIFTS:
        d = tmp_path / f"{shift:.2f}"
        d.mkdir()
        (story,) = follow(_write(d, style, shift), queue_id="A1CDA22252B", options=OPTS).stories
        doc = story_to_json(story)
        chain = {(h["queue_id"], h["link"], h.get("from_queue_id")) for h in doc["chain"]}
        verdicts = {r["recipient"]: r["verdict"] for r in doc["recipients"]}
        if chain != CHAIN or len(doc["chain"]) != len(CHAIN) or verdicts != VERDICTS:
            bad.append((shift, sorted(chain ^ CHAIN, key=str), verdicts))
    assert not bad, f"{len(bad)} of {len(SHIFTS)} offsets differ, first: {bad[:3]}"


def test_the_quota_failed_session_is_never_linked_by_message_id(tmp_path):
    """The timing the CI run had: Dovecot's clock ticked between the ``drop@`` and ``full@`` lines,
    after mx1 and mx2 had started within the earlier second."""
    shift = 0.25  # drop@ at :21.995, full@ at :22.005
    (story,) = follow(_write(tmp_path, "rfc3339", shift), queue_id="A1CDA22252B", options=OPTS).stories
    chain = story_to_json(story)["chain"]
    assert sum(":R" in h["queue_id"] for h in chain) == 2, chain
    assert f"{SESSION}:R2" not in {h["queue_id"] for h in chain}
    assert all(h["link"] != "message-id" for h in chain), chain
