"""amavis (amavisd-new): the content filter between Postfix's ``smtp`` hand-off and re-injection.

Claimed programs: ``amavis``, ``amavisd``, ``amavisd-new`` (also with a path, as some
distributions log ``/usr/sbin/amavisd``). The verdict line (``Passed CLEAN``, ``Blocked SPAM``
…) is a ``filter`` event (Tag.FILTER_VERDICT) of the MTA lifecycle it names: ``queue_id`` is
its ``Queue-ID:``, ``next_queue_id`` the ``queued_as:`` of the re-injected copy, ``status``
Passed/Blocked (Blocked adds Tag.FILTER_DISCARD: this recipient's copy was not passed on), ``detail`` the category and actions (``SPAM {DiscardedInbound,Quarantined}``),
``reply_text`` the quarantine ID, ``recipient`` every recipient of ``-> <a>,<b>`` (comma-separated:
``a,b``; one amavis line speaks for all recipients of one transaction). Every other amavis line
is a recognized event of kind ``other``.
"""

from __future__ import annotations

from typing import ClassVar

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule, RuleParser
from logtrace.parsing.tags import Tag

#: ``(06435-02) Blocked SPAM {DiscardedInbound,Quarantined}, [ip]:port [ip] <s> -> <r>,<r2>, quarantine: X,
#: Queue-ID: Q, Message-ID: <M>, mail_id: …, Hits: …, size: …, queued_as: Y, … ms`` (amavisd-new 2.11–2.13;
#: a policy-bank name such as ``MYNETS LOCAL`` or ``BOUNCESPAM`` may stand before the client)
VERDICT = (r"^\(\d+-\d+(?:-\d+)?\) (?P<status>Passed|Blocked) (?P<detail>[A-Z][A-Z-]*(?: \([^)]*\))?(?: \{[^}]*\})?), "
           r"(?:[A-Z][A-Z0-9_-]* )*(?:\[(?P<client_ip>[0-9A-Fa-f.:]+)\]:\d+ )?(?:\[[^\]]*\] )?"
           r"<(?P<sender>[^>]*)> -> (?P<rcpts><[^>]*>(?:,<[^>]*>)*)"
           r"(?:, quarantine: (?P<reply_text>[^,\s]+))?(?:, Queue-ID: (?P<queue_id>[0-9A-Za-z]+))?"
           r"(?:, Message-ID: <(?P<message_id>[^>]*)>)?(?:, mail_id: [^,\s]+)?(?:, Hits: [^,\s]+)?(?:, size: (?P<size>\d+))?"
           r"(?:, queued_as: (?P<next_queue_id>[0-9A-Za-z]+))?(?:,.*)?$")

RULES: tuple[Rule, ...] = (
    # $log_recip_templ (upstream's default; Debian sets it to undef): a per-recipient summary after the
    # verdict line, without the {actions} and without Queue-ID: the verdict line above it is the one that counts
    Rule("amavis.filter.recipient_summary", "amavis",
         r"^\(\d+-\d+(?:-\d+)?\) (?P<status>Passed|Blocked) (?P<detail>[A-Z][A-Z-]*(?: \([^)]*\))?), <(?P<sender>[^>]*)> -> "
         r"(?:<(?P<recipient>[^>]*)>)?, .*$", K.OTHER,
         ("(25230-04) Passed CLEAN, <ivan@example.org> -> <ok-filter@filtered.example.test>, Hits: -0.999, tag=-999, tag2=5, "
          "kill=5, queued_as: AEBE121263C, L/Y/0/0",
          "(25250-03) Blocked BANNED (application/octet-stream,invoice.exe), <uma@example.org> -> , Hits: -, tag=-999, tag2=5, "
          "kill=5, L/Y/0/0")),
    Rule("amavis.filter.verdict", "amavis", VERDICT, K.FILTER,
         ("(02546-20) Passed CLEAN {RelayedInbound}, [192.0.2.7]:58754 [192.0.2.7] <a@example.net> -> <bob@example.org>, "
          "Queue-ID: 0025630001C7, Message-ID: <abc@example.net>, mail_id: Xq3Lw8PzRt, Hits: -1.2, size: 3400, queued_as: 3F1A230001D2, 512 ms",
          "(06435-02) Blocked SPAM {DiscardedInbound,Quarantined}, [192.0.2.20]:48071 [192.0.2.20] <s@example.net> -> <alice@example.org>, "
          "quarantine: spam-TPu0VJzpoB7n, Queue-ID: 69AF12C01B3, Message-ID: <gtube@example.net>, mail_id: TPu0VJzpoB7n, Hits: 1002.1, "
          "size: 1570, 325 ms",
          "(06434-08) Blocked SPAM {BouncedInbound,Quarantined}, BOUNCESPAM [192.0.2.20]:55321 [192.0.2.20] <s@example.net> -> "
          "<carol@example.org>,<dave@example.org>, quarantine: spam-5bZx, Queue-ID: 3B1D02C0FA1, Message-ID: <g2@example.net>, "
          "mail_id: 5bZx, Hits: 1002.1, size: 1577, 301 ms",
          "(04051-09) Blocked INFECTED (Eicar-Signature) {DiscardedInbound,Quarantined}, [192.0.2.7]:1434 [192.0.2.7] <a@example.net> "
          "-> <bob@example.org>, quarantine: virus-Xq3Lw8PzRt, Queue-ID: 0025630001C8, Message-ID: <v@example.net>, mail_id: Xq3Lw8PzRt, "
          "Hits: -, size: 3400, 88 ms",
          # Debian 12 amavisd-new 2.13.0 in the lab (tests/realmta/filters.py): banned name, tagged pass, bounce, plain discard
          "(25250-03) Blocked BANNED (application/octet-stream,invoice.exe) {DiscardedInbound,Quarantined}, [127.0.0.1]:52638 "
          "<uma@example.org> -> <banned@filtered.example.test>, quarantine: banned-8BHSbmJJ6mSt, Queue-ID: 7D9A121251D, "
          "Message-ID: <amavis_banned.1d714c82@client.example.org>, mail_id: 8BHSbmJJ6mSt, Hits: -, size: 894, 136 ms",
          "(25230-06) Passed SPAM {RelayedTaggedInbound}, PASSSPAM [127.0.0.1]:52660 <walt@example.org> -> <pass-filter@filtered.example.test>, "
          "Queue-ID: 7FBBF212526, Message-ID: <amavis_pass.9bc899d4@client.example.org>, mail_id: mpp82AjedNy0, Hits: 999, size: 631, "
          "queued_as: 3CEBF212317, 92 ms",
          "(25230-07) Blocked SPAM {BouncedInbound}, BOUNCESPAM [127.0.0.1]:52654 <vera@example.org> -> <bounce-filter@filtered.example.test>, "
          "Queue-ID: 7F0B3212520, Message-ID: <amavis_bounce.841ae3ef@client.example.org>, mail_id: 6QIVyrqK3pC8, Hits: 999, size: 639, 87 ms",
          "(25230-05) Blocked SPAM {DiscardedInbound,Quarantined}, [127.0.0.1]:52636 <tom@example.org> -> <spam-q1@filtered.example.test>,"
          "<spam-q2@filtered.example.test>, quarantine: spam-2Cv1m-n0DBK4, Queue-ID: 7AA8A21251B, Message-ID: "
          "<amavis_quarantine.9049cc77@client.example.org>, mail_id: 2Cv1m-n0DBK4, Hits: 999, size: 629, 153 ms",
          # one transaction split per recipient (a spam lover): two lines, one Queue-ID
          "(11323-07) Passed SPAM {DiscardedInbound,RelayedTaggedInbound,Quarantined}, [127.0.0.1]:58572 <wren@example.org> -> "
          "<spam-lover@filtered.example.test>, quarantine: spam-FG0qEdOSqTXA, Queue-ID: 1489D2126EA, Message-ID: "
          "<amavis_split.59ee2e6c@client.example.org>, mail_id: FG0qEdOSqTXA, Hits: 999, size: 623, queued_as: 8FF82212243, 90 ms",
          "(11323-07) Blocked SPAM {DiscardedInbound,RelayedTaggedInbound,Quarantined}, [127.0.0.1]:58572 <wren@example.org> -> "
          "<spam-q3@filtered.example.test>, quarantine: spam-FG0qEdOSqTXA, Queue-ID: 1489D2126EA, Message-ID: "
          "<amavis_split.59ee2e6c@client.example.org>, mail_id: FG0qEdOSqTXA, Hits: 999, size: 623, 90 ms",
          "(01234-01) Passed CLEAN {RelayedInternal}, MYNETS LOCAL [127.0.0.1]:41874 <root@mx1.example.org> -> <admin@example.org>, "
          "Message-ID: <x@mx1.example.org>, mail_id: aaBB, Hits: -, size: 900, queued_as: 4C2A12C0A01, 102 ms"),
         tags=frozenset({Tag.FILTER_VERDICT}),
         # Blocked: this recipient's copy was not passed on, whatever the MTA's 2xx for the transaction says
         tags_by=("status", (("Blocked", frozenset({Tag.FILTER_DISCARD})),))),
    Rule("amavis.any.message", "amavis", r"^(?P<detail>.*)$", K.OTHER,
         ("(!)connect to /var/run/clamav/clamd.ctl failed, attempt #1: Can't connect to a UNIX socket",
          "starting. /usr/sbin/amavisd at mx1.example.test amavis-2.13.0 (20230106), Unicode aware, LANG=\"C.UTF-8\"",
          "No decoder for       .7z  ",
          "(06434-08) Blocked SPAM {BouncedInbound,Quarantined} ... SEND from <> -> <s@example.net>")),
)


class AmavisParser(RuleParser):
    """amavisd-new lines in a syslog file."""

    name: ClassVar[str] = "amavis"
    aliases: ClassVar[tuple[str, ...]] = ("amavisd", "amavisd-new")
    mta: ClassVar[str] = "amavis"
    rules: ClassVar[tuple[Rule, ...]] = RULES
    program_pattern: ClassVar[str] = r"^(?:\S*/)?(?P<daemon>amavis)(?:d(?:-new)?)?$"
    #: ``-> <a>,<b>`` → ``recipient`` ``a,b``
    conversions: ClassVar[tuple[tuple[str, str, str], ...]] = (("rcpts", "recipient", "addresses"),)

