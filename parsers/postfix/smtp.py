"""Postfix rule table: smtp / lmtp (lmtp shares smtp's table).

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace.parsing.tags import Tag
from logtrace_parsers.postfix.patterns import FILTER_DISCARD, QID, delivery_rule

RULES: tuple[Rule, ...] = (
    # before the delivery line: "250 … Ok, discarded" is a content filter dropping the message
    Rule("postfix.smtp.filter_discard", "smtp", FILTER_DISCARD, K.DISCARD,
         ("1A2B3C4D5E: to=<x@filtered.example.test>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0.1/0.8, dsn=2.7.0, status=sent (250 2.7.0 Ok, discarded, id=06435-02 - spam)",
          "1A2B3C4D5E: to=<x@filtered.example.test>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0.1/0/0.1/0.8, dsn=2.5.0, status=sent (250 2.5.0 Ok, id=06435-03, BOUNCE)"),
         tags=frozenset({Tag.DELIVERY_STATUS, Tag.DISCARD_SENT, Tag.FILTER_DISCARD})),
    delivery_rule("smtp",
              "0D9633D: to=<jos@example.com>, orig_to=<bestuur@example.com>, relay=mail1.example.net[10.74.103.11]:25, delay=11, delays=5.4/0.06/5.1/0.03, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as F12DF84004)",
              "A0E85200BD: to=<whatever-user@lists.example.org>, relay=open.example.nl[10.49.140.10]:25, delay=2.3, delays=0.25/0.05/2/0.04, dsn=4.2.0, status=deferred (host open.example.nl[10.49.140.10] said: 450 4.2.0 <whatever-user@lists.example.org>: Recipient address rejected: Greylisted (in reply to RCPT TO command))",
              "7EE668039: to=<user@example.com>, relay=mail.example.com[1.2.3.4]:25, delay=3.6, delays=0.08/0.02/0.85/0.14, tls=dane/requiretls, dsn=2.1.5, status=sent (250 2.0.0 Ok: queued as 153053D)",
              "34B3F4317: to=<gabriel.matthews@cs.tcd.ie>, relay=127.0.0.1[127.0.0.1], delay=7, status=sent (250 2.6.0 Ok, id=16661-16, from MTA([127.0.0.1]:11025): 250 Ok: queued as 8B22B43C3)"),
    Rule("postfix.smtp.host_said", "smtp", rf"^{QID}: host (?P<relay>\S+) said: (?P<reply_text>.*)$", K.OTHER,
         ("ED59C3D: host mail2.example.com[1.74.253.23] said: 450 4.7.1 <user@example.com>: Recipient address rejected: Greylisted for 5 minutes (in reply to RCPT TO command)",)),
    Rule("postfix.smtp.refused_to_talk", "smtp", rf"^{QID}: host (?P<relay>\S+) refused to talk to me: (?P<reply_text>.*)$", K.OTHER,
         ("40197AA: host mg2.egov.bg[213.91.191.86] refused to talk to me: 450 4.3.2 try again later",), tags=frozenset({Tag.SMTP_FAILURE})),
    Rule("postfix.smtp.lost_connection", "smtp", rf"^{QID}: (?:lost connection with|conversation with) (?P<relay>\S+) (?P<detail>(?:timed out )?while .*)$", K.OTHER,
         ("745137AA: lost connection with hotmail-com.olc.protection.outlook.com[104.47.55.161] while sending RCPT TO",
          "78D6B41: conversation with mx00.gmx.com[74.208.5.4] timed out while receiving the initial server greeting"), tags=frozenset({Tag.SMTP_FAILURE})),
    Rule("postfix.smtp.session_note", "smtp", rf"^{QID}: (?P<detail>(?:SASL authentication failed|Used TLS for|enabling PIX workarounds|breaking line|Cannot start TLS|TLS is required|Server certificate not|server certificate|host \S+ \w+ TLS|mail for \S+ loops back).*)$", K.OTHER,
         ("D0F29603B4: SASL authentication failed; server xyz.example.com[1.2.3.4] said: 535 5.7.8 Error: authentication failed: authentication failure",
          "B0ADE20FC7: enabling PIX workarounds: disable_esmtp delay_dotcrlf for example.com[93.184.216.34]:25",
          "01B3A96050: Used TLS for 10.19.65.1[10.19.65.1]:587")),
    Rule("postfix.smtp.connect_failed", "smtp", r"^connect to (?P<relay>\S+?): (?P<detail>.*)$", K.OTHER,
         ("connect to intern.nl[194.109.6.98]:25: Connection timed out",
          "connect to aspmx.l.google.com[2a00:1450:400b:c02::1a]:25: Network is unreachable"), tags=frozenset({Tag.SMTP_FAILURE})),
    Rule("postfix.smtp.tls", "smtp",
         r"^(?P<detail>(?:(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established to|certificate verification failed for|SSL_connect error to|server certificate verification failed for|Host offered STARTTLS|[\w.-]+\[[^\]]*\]:\d+: (?:re-using session|Matched|depth=|subject_CN|issuer)|TLS library problem).*)$",
         K.OTHER,
         ("Untrusted TLS connection established to mx4.hotmail.com[65.55.92.136]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-SHA384 (256/256 bits)",
          "certificate verification failed for mail.example.com[113.169.17.115]:25: self-signed certificate.",
          "SSL_connect error to mail.example.org[112.63.65.2]:25: lost connection")),
)
