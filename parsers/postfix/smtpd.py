"""Postfix rule table: smtpd.

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace.parsing.tags import Tag
from logtrace.parsing.cuts import Cut
from logtrace_parsers.postfix.patterns import QID, QIDG, CLIENT, TAIL, NOQUEUE_KIND, NOQUEUE

CLIENT_CUT = Cut(rf"^{QIDG}: client=[^\s\[\],]*\[[^\],]*\](?::\d+)?(?:, .*)?$",
                 (("split", "body", ", ", ("_a", "_d")),
                  ("split", "_a", ": client=", ("queue_id", "client")),
                  ("prepend", "_d", "detail", ", ")))
DISCONNECT_CUT = Cut(r"^disconnect from [^\s\[\]]*\[[^\]\s]*\](?::\d+)?(?: .*)?$",
                     (("strip", "body", "_c", "disconnect from ", ""), ("split", "_c", " ", ("client", "detail"))))
#: the TLS handshake note with its ``: protocol, cipher`` tail (or none); other notes go through the pattern
TLS_CUT = Cut(r"^(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established from [^\s\[\]]*\[[^\]\s]*\](?:$|: )",
              (("split", "body", " from ", ("detail", "_r")), ("split", "_r", ": ", ("client", "_t"))))
CONNECT_CUT = Cut(r"^connect from [^\s\[\]]*\[[^\]]*\](?::\d+)?$", (("strip", "body", "client", "connect from ", ""),))

RULES: tuple[Rule, ...] = (
    Rule("postfix.smtpd.connect", "smtpd", rf"^connect from {CLIENT}$", K.CONNECT,
         ("connect from 061238241086.static.ctinets.com[61.238.241.86]",), cut=CONNECT_CUT),
    Rule("postfix.smtpd.disconnect", "smtpd", rf"^disconnect from {CLIENT}(?: (?P<detail>.*))?$", K.DISCONNECT,
         ("disconnect from unknown[72.10.165.66] ehlo=2 starttls=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=5/7",
          "disconnect from 061238241086.static.ctinets.com[61.238.241.86]"), cut=DISCONNECT_CUT),
    # XFORWARD from a content filter: client= is the original client, orig_client= the filter
    Rule("postfix.smtpd.client_xforward", "smtpd",
         rf"^{QID}: client={CLIENT}, orig_queue_id=(?P<next_queue_id>[0-9A-Za-z]+)(?P<detail>,.*)?$", K.ACCEPT,
         ("0D5A6C2E47: client=localhost[127.0.0.1], orig_queue_id=A8B1F20F3C, orig_client=localhost[127.0.0.1]",),
         tags=frozenset({Tag.FILTERED_FROM})),
    Rule("postfix.smtpd.client", "smtpd", rf"^{QID}: client={CLIENT}(?P<detail>,.*)?$", K.ACCEPT,
         ("4104E3D: client=061238241086.static.ctinets.com[61.238.241.86]",
          "D4F2023DB: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=user@example.com"), cut=CLIENT_CUT),
    Rule("postfix.smtpd.noqueue_client", "smtpd", rf"^NOQUEUE: client={CLIENT}(?P<detail>,.*)?$", K.OTHER,
         ("NOQUEUE: client=unknown[10.100.0.3]",)),
    Rule("postfix.smtpd.noqueue", "smtpd", NOQUEUE, K.REJECT,
         ("NOQUEUE: reject: RCPT from unknown[2001:980:cfb1:1:82f:f74e:a45c:3033]: 504 5.5.2 <aap@henk>: Sender address rejected: need fully-qualified address; from=<aap@henk> to=<user@example.com> proto=SMTP helo=<test>",
          "NOQUEUE: reject_warning: RCPT from example.com[93.184.216.34]: 553 5.7.1 <sender@example.com>: Sender address rejected: not owned by user ph123; from=<sender@example.com> to=<recipient@example.com> proto=ESMTP helo=<example.com>",
          "NOQUEUE: filter: RCPT from unknown[85.25.255.255]: <mail@sender.com>: Sender address triggers FILTER smtp-amavis:[127.0.0.1]:10024; from=<mail@sender.com> to=<user@domain.com> proto=ESMTP helo=<plutoapp.biz>",
          "NOQUEUE: milter-reject: RCPT from mailrelay.example.com[8.8.8.8]: 451 4.7.1 Greylisting in action, please come back later; from=<support@example.com> to=<example@example.org> proto=ESMTP helo=<mailrelay.example.com>"),
         kind_by=("status", NOQUEUE_KIND), tags=frozenset({Tag.NOQUEUE})),
    Rule("postfix.smtpd.proxy", "smtpd",
         rf"^(?:(?:NOQUEUE|{QID}): )?(?P<status>proxy-accept|proxy-reject): (?P<detail>[A-Z][A-Z-]*): (?P<reply_text>.*?){TAIL}", K.FILTER,
         ("proxy-accept: END-OF-MESSAGE: 250 2.0.0 from MTA(smtp:[127.0.0.1]:10013): 250 2.0.0 Ok: queued as DF66E940333; from=<user1@test.example.com> to=<user2@example2.com> proto=ESMTP helo=<[127.0.0.1]>",
          "proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, contact postmaster@example.com, id=31619-02 - spam; from=<> to=<user2@example2.com> proto=SMTP helo=<17.33.12.53>"),
         kind_by=("status", (("proxy-reject", K.REJECT),))),
    Rule("postfix.smtpd.lost_connection", "smtpd",
         rf"^(?:NOQUEUE: )?(?P<detail>(?:lost connection|timeout|too many errors) after [A-Z-]+(?: \(\d+ bytes\))?) from {CLIENT}$", K.OTHER,
         ("lost connection after DATA (7774180 bytes) from unknown[72.13.58.7]", "timeout after END-OF-MESSAGE from unknown[72.13.58.7]")),
    Rule("postfix.smtpd.tls", "smtpd",
         rf"^(?P<detail>(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established|SSL_accept error|TLS library problem|[\w-]+ TLS) from {CLIENT}(?::.*)?$", K.OTHER,
         ("Anonymous TLS connection established from julie.example.com[10.163.89.202]: TLSv1.2 with cipher AECDH-AES256-SHA (256/256 bits)",
          "SSL_accept error from unknown[72.13.58.7]: lost connection"), cut=TLS_CUT),
    Rule("postfix.smtpd.protocol_note", "smtpd",
         rf"^(?P<detail>improper command pipelining after \S+|bare <(?:LF|CR)> received after \S+|non-SMTP command|too many \w+) from {CLIENT}(?::.*)?$", K.OTHER,
         ("improper command pipelining after EHLO from unknown[2001:968:9999:20:415c:cd2:da8e:d0cf]: MAIL FROM:<>\\nRCPT TO:<tom@example.net>\\n",
          "bare <LF> received after CONNECT from example.net[1.2.3.4]")),
    Rule("postfix.smtpd.discarding_ehlo", "smtpd", r"^(?P<detail>discarding EHLO keywords: .*)$", K.OTHER,
         ("discarding EHLO keywords: CHUNKING ETRN DSN 8BITMIME",)),
    Rule("postfix.smtpd.qid_note", "smtpd", rf"^{QID}: (?P<detail>(?:enabling PIX|sasl_|Sender address triggers|filter:|client=)[^\n]*)$", K.OTHER,
         ("B0ADE20FC7: enabling PIX workarounds: disable_esmtp delay_dotcrlf for example.com[93.184.216.34]:25",)),
)
