"""Scripted mail scenarios run through an :class:`~realmta.exim.EximLab`.

``run_all(lab)`` injects every scenario's message at once, waits (bounded) until
each has reached its terminal log lines and returns ``{name: Scenario}`` (the
:class:`realmta.scenarios.Scenario` dataclass; ``host`` is ``"exim1"`` or a
Postfix instance name, ``raw`` holds ``(host, regex)`` pairs the harness test
checks, ``chain`` the ``(host, id, link)`` hops discovered on the way).

Exim-only scenarios (entering exim1):

* ``delivered``  -> ``<=``, ``=> … C="250 2.0.0 Ok: queued as X"``, ``Completed``
* ``greylist``   -> ``==`` (451 4.7.1) then ``=>`` on a queue run
* ``bounced``    -> ``**`` (550 5.1.1), NDR ``<= <> R=<id>`` delivered to the sender
* ``multi``      -> one ``=>`` and one ``**`` in the same message, NDR
* ``expired``    -> ``==`` (451 4.4.1) until the retry cutoff, then
  ``** … retry timeout exceeded`` and an NDR
* ``rejected``   -> RCPT refused by the ACL (``rejected RCPT <…>: 5.7.1 …``);
  no message id: follow with ``--to``
* ``rcpt_partial`` -> one RCPT refused by the ACL (a line without the message id, before
  ``<=``), the other accepted and delivered in the same transaction (not in ``EXIM_ONLY``:
  tests/test_follow_real_exim.py checks it on its own)

Cross-MTA scenarios (only with Postfix):

* ``to_postfix``          exim1 -> mx1 -> far end: Exim logs ``C="250 2.0.0 Ok: queued as <mx1 id>"``
* ``from_postfix``        mx1 -> exim1 -> far end: mx1 logs ``status=sent (250 OK id=<exim id>)``
* ``from_postfix_bounce`` mx1 -> exim1, which bounces (550 5.1.1) and sends the NDR
"""
from __future__ import annotations

import os
import re
import time

from .common import ID_RE
from .exim import LINE_RE, EximLab
from .scenarios import Scenario

EXIM_ONLY = ["delivered", "greylist", "bounced", "multi", "expired", "rejected"]
CROSS = ["to_postfix", "from_postfix", "from_postfix_bounce"]


def _msgid(name: str) -> str:
    return f"<exim-{name}.{os.urandom(4).hex()}@client.example.org>"


def _e(s: str) -> str:
    return re.escape(s)


def run_all(lab: EximLab, timeout: float = 60.0) -> dict[str, Scenario]:
    sc: dict[str, Scenario] = {}
    ex = lab.exim

    def add(s: Scenario) -> Scenario:
        sc[s.name] = s
        s.message_id = s.message_id or _msgid(s.name)
        return s

    # ---------------------------------------------------------- define ----
    add(Scenario("delivered", "exim1", "alice@example.org",
                 {"ok-delivered@ext.example.test": "relayed"},
                 dsn={"ok-delivered@ext.example.test": "2.0.0"}))
    add(Scenario("greylist", "exim1", "dave@example.org",
                 {"greylist-exim@ext.example.test": "relayed"}))
    add(Scenario("bounced", "exim1", "carol@example.org",
                 {"unknown-bounce@ext.example.test": "bounced"},
                 dsn={"unknown-bounce@ext.example.test": "5.1.1"}, expect_exit=4))
    add(Scenario("multi", "exim1", "grace@example.org",
                 {"ok-multi@ext.example.test": "relayed",
                  "unknown-multi@ext.example.test": "bounced"},
                 dsn={"unknown-multi@ext.example.test": "5.1.1"}, expect_exit=4))
    add(Scenario("expired", "exim1", "erin@example.org",
                 {"tempfail-expire@ext.example.test": "expired"}, expect_exit=4))
    add(Scenario("rejected", "exim1", "frank@example.org",
                 {"blocked@ext.example.test": "rejected"},
                 dsn={"blocked@ext.example.test": "5.7.1"},
                 follow_to="blocked@ext.example.test", expect_exit=4))
    # one RCPT refused by the ACL, the other accepted and delivered, in one SMTP transaction:
    # the reject line names no message id (it comes before "<="); followed by its sender
    add(Scenario("rcpt_partial", "exim1", "mallory@example.org",
                 {"ok-partial@ext.example.test": "relayed", "blocked-partial@ext.example.test": "rejected"},
                 dsn={"blocked-partial@ext.example.test": "5.7.1"}, follow_from="mallory@example.org", expect_exit=4))
    if lab.postfix:
        add(Scenario("to_postfix", "exim1", "bob@example.org",
                     {"ok-topf@via-postfix.example.test": "relayed"}))
        add(Scenario("from_postfix", "mx1", "ivan@example.org",
                     {"ok-frompf@via-exim.example.test": "relayed"}))
        add(Scenario("from_postfix_bounce", "mx1", "judy@example.org",
                     {"unknown-frompf@via-exim.example.test": "bounced"},
                     dsn={"unknown-frompf@via-exim.example.test": "5.1.1"}, expect_exit=4))

    # ---------------------------------------------------------- inject ----
    for s in sc.values():
        try:
            qid, replies, _ = lab.send(s.host, s.sender, list(s.recipients),
                                       subject=f"logtrace exim scenario {s.name}",
                                       message_id=s.message_id)
        except (OSError, RuntimeError) as e:
            s.error = f"send failed: {type(e).__name__}: {e}"
            continue
        s.queue_id = qid
        if s.follow_to is None and qid is None:
            s.error = f"no queue id; RCPT replies: {replies}"
        if qid:
            s.chain.append((s.host, qid, "origin"))

    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    L = LINE_RE

    def exim_ndr(eid: str) -> str:
        """Wait for the NDR of ``eid`` to arrive and be delivered; return its id."""
        m = ex.wait_for(L + rf"({ID_RE}) <= <> R={_e(eid)} ", left())
        n = m.group(1)
        ex.wait_completed(n, left())
        return n

    def ndr_raw(eid: str, n: str, sender: str) -> list[tuple[str, str]]:
        return [("exim1", L + rf"{_e(n)} <= <> R={_e(eid)} U=\S+ P=local S=\d+ .*for {_e(sender)}$"),
                ("exim1", L + rf"{_e(n)} => {_e(sender)} R=\S+ T=remote_smtp H=127\.0\.0\.1 \[127\.0\.0\.1\]:{lab.sink.port} "
                              rf'C="250 2\.0\.0 Ok: queued as [0-9A-F]+"'),
                ("exim1", L + rf"{_e(n)} Completed$")]

    def arrival_raw(s: Scenario) -> tuple[str, str]:
        return ("exim1", L + rf"{_e(s.queue_id)} <= {_e(s.sender)} H=\(client\.example\.org\) \[127\.0\.0\.1\] "
                         rf"P=esmtp S=\d+ id={_e(s.message_id.strip('<>'))} for "
                         + " ".join(_e(r) for r, v in s.recipients.items() if v != "rejected") + "$")

    def sent_raw(q: str, rcpt: str, port: int) -> str:
        # "K" + "Ok: <n> bytes queued as": Exim used CHUNKING (BDAT), as it does
        # with Postfix's smtpd (the scripted far end offers no CHUNKING).
        return (L + rf"{_e(q)} => {_e(rcpt)} R=\S+ T=remote_smtp H=127\.0\.0\.1 \[127\.0\.0\.1\]:{port} "
                rf'(?:K )?C="250 2\.0\.0 Ok: (?:\d+ bytes )?queued as ([0-9A-Za-z]+)"')

    # ------------------------------------------------------------ wait ----
    def wait(s: Scenario) -> None:
        q = s.queue_id
        if s.name == "rejected":
            s.raw.append(("exim1", L + r"H=\(client\.example\.org\) \[127\.0\.0\.1\] F=<frank@example\.org> "
                                       r"rejected RCPT <blocked@ext\.example\.test>: 5\.7\.1 Recipient blocked by local policy$"))
            ex.wait_for(s.raw[-1][1], left())
            return
        if s.host == "exim1":
            s.raw.append(arrival_raw(s))
            ex.wait_completed(q, left())
            s.raw.append(("exim1", L + rf"{_e(q)} Completed$"))
        if s.name == "rcpt_partial":
            s.raw += [("exim1", L + r"H=\(client\.example\.org\) \[127\.0\.0\.1\] F=<mallory@example\.org> "
                                    r"rejected RCPT <blocked-partial@ext\.example\.test>: 5\.7\.1 Recipient blocked by local policy$"),
                      ("exim1", sent_raw(q, "ok-partial@ext.example.test", lab.sink.port))]
            ex.wait_for(s.raw[-1][1], left())
        if s.name in ("delivered", "greylist"):
            rcpt = next(iter(s.recipients))
            s.raw.append(("exim1", sent_raw(q, rcpt, lab.sink.port)))
            ex.wait_for(s.raw[-1][1], left())
            if s.name == "greylist":
                s.raw.append(("exim1", L + rf"{_e(q)} == {_e(rcpt)} R=\S+ T=remote_smtp defer \(-44\) "
                                           rf"H=127\.0\.0\.1 \[127\.0\.0\.1\]:{lab.sink.port} .*SMTP error from remote mail server "
                                           rf"after RCPT TO:<{_e(rcpt)}>: 451 4\.7\.1 "))
        elif s.name in ("bounced", "multi"):
            bad = next(r for r in s.recipients if r.startswith("unknown"))
            s.raw.append(("exim1", L + rf"{_e(q)} \*\* {_e(bad)} R=\S+ T=remote_smtp H=127\.0\.0\.1 \[127\.0\.0\.1\]:{lab.sink.port}: "
                                       rf"SMTP error from remote mail server after RCPT TO:<{_e(bad)}>: 550 5\.1\.1 "))
            if s.name == "multi":
                s.raw.append(("exim1", sent_raw(q, "ok-multi@ext.example.test", lab.sink.port)))
            n = exim_ndr(q)
            s.ndr = ("exim1", n)
            s.chain.append(("exim1", n, "ndr"))
            s.raw += ndr_raw(q, n, s.sender)
        elif s.name == "expired":
            rcpt = next(iter(s.recipients))
            n = exim_ndr(q)
            s.ndr = ("exim1", n)
            s.chain.append(("exim1", n, "ndr"))
            s.raw += [("exim1", L + rf"{_e(q)} == {_e(rcpt)} R=\S+ T=remote_smtp defer \(-44\) .*: 451 4\.4\.1 "),
                      ("exim1", L + rf"{_e(q)} \*\* {_e(rcpt)}: retry timeout exceeded$"),
                      *ndr_raw(q, n, s.sender)]
        elif s.name == "to_postfix":
            rcpt = next(iter(s.recipients))
            s.raw.append(("exim1", sent_raw(q, rcpt, lab.postfix.mx1_port)))
            q2 = ex.wait_for(s.raw[-1][1], left()).group(1)
            s.chain.append(("mx1", q2, "relay"))
            mx1 = lab.postfix.hosts["mx1"]
            mx1.wait_removed(q2, left())
            s.raw += [("mx1", rf"\b{q2}: to=<{_e(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lab.sink.port}, "
                              rf".*status=sent \(250 2\.0\.0 Ok: queued as "),
                      ("mx1", rf"\b{q2}: removed$")]
        elif s.name in ("from_postfix", "from_postfix_bounce"):
            rcpt = next(iter(s.recipients))
            mx1 = lab.postfix.hosts["mx1"]
            mx1.wait_removed(q, left())
            pat = (rf"\b{q}: to=<{_e(rcpt)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{lab.exim_port}, "
                   rf".*status=sent \(250 OK id=({ID_RE})\)")
            s.raw += [("mx1", pat), ("mx1", rf"\b{q}: removed$")]
            e = mx1.wait_for(pat, left()).group(1)
            s.chain.append(("exim1", e, "relay"))
            ex.wait_completed(e, left())
            s.raw += [("exim1", L + rf"{_e(e)} <= {_e(s.sender)} H=\(mx1\.example\.test\) \[127\.0\.0\.1\] "
                                    rf"P=esmtp S=\d+ id={_e(s.message_id.strip('<>'))} for {_e(rcpt)}$"),
                      ("exim1", L + rf"{_e(e)} Completed$")]
            if s.name == "from_postfix":
                s.raw.append(("exim1", sent_raw(e, rcpt, lab.sink.port)))
                ex.wait_for(s.raw[-1][1], left())
            else:
                s.raw.append(("exim1", L + rf"{_e(e)} \*\* {_e(rcpt)} R=\S+ T=remote_smtp .*: 550 5\.1\.1 "))
                n = exim_ndr(e)
                s.ndr = ("exim1", n)
                s.raw += ndr_raw(e, n, s.sender)

    for s in sc.values():
        if s.error:
            continue
        try:
            wait(s)
        except (TimeoutError, RuntimeError) as e:
            s.error = f"{type(e).__name__}: {e}"
    return sc
