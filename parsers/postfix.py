"""Postfix: rule tables per daemon, as data, each rule proven by real sample lines.

Program names: ``postfix/smtpd``, multi-instance ``postfix-out/smtp``, service-prefixed
``postfix/submission/smtpd`` and ``postfix/relay/smtp`` all select the daemon's table (the
last path element). Queue IDs: short uppercase hex, long ``enable_long_queue_ids`` IDs
(vowel-free base-52 with a ``z``), or ``NOQUEUE``.

Samples come from the public corpus (``shared/corpus/public/postfix``: whyscream's grok test
cases, the postfix_exporter fixtures, fail2ban, SEKOIA) or from a real Postfix 3.7 started by
the test suite. Order matters: first match wins, most frequent shapes first.
"""

from __future__ import annotations

from typing import ClassVar

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule, RuleParser
from logtrace.parsing.tags import Tag

QID = r"(?P<queue_id>[0-9A-F]{5,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,})"
CLIENT = r"(?P<client>[^\s\[\]]*\[[^\]]*\](?::\d+)?)"
ADDR = r"<?(?P<recipient>[^>,\s]*)>?"
TAIL = (
    r"(?:;(?: from=<(?P<sender>[^>]*)>,?)?(?: to=<(?P<recipient>[^>]*)>,?)?"
    r"(?: proto=[^\s,]+,?)?(?: helo=<[^>]*>)?)?\s*$"
)

STATUS_KIND = (
    ("sent", K.DELIVER),
    ("deferred", K.DEFER),
    ("bounced", K.BOUNCE),
    ("expired", K.EXPIRE),
    ("SOFTBOUNCE", K.DEFER),
    ("deliverable", K.OTHER),
    ("undeliverable", K.OTHER),
    ("undeliverable-but-not-cached", K.OTHER),
)

DELIVERY = (
    rf"^{QID}: to=<?(?P<recipient>[^>,]*)>?, (?:orig_to=<?(?P<orig_recipient>[^>,]*)>?, )?"
    r"relay=(?P<relay>[^,]+), (?:conn_use=\d+, )?delay=(?P<delay_s>[\d.]+), "
    r"(?:delays=(?P<delays>[\d./]+), )?(?:tls=[^,\s]*, )?(?:dsn=(?P<dsn>[\d.]+), )?"
    r"status=(?P<status>[\w-]+)(?: \((?P<reply_text>.*)\))?$"
)

NOQUEUE_KIND = (
    ("reject", K.REJECT),
    ("reject_warning", K.REJECT_WARNING),
    ("discard", K.DISCARD),
    ("filter", K.FILTER),
    ("hold", K.HOLD),
    ("redirect", K.REDIRECT),
    ("milter-reject", K.REJECT),
    ("milter-discard", K.DISCARD),
    ("milter-hold", K.HOLD),
)
NOQUEUE = (
    rf"^(?:NOQUEUE|{QID}): (?P<status>reject|reject_warning|discard|filter|hold|redirect|milter-reject|milter-discard|milter-hold): "
    rf"(?P<detail>[A-Z][A-Z-]*) from {CLIENT}: (?P<reply_text>.*?){TAIL}"
)

CHECKS_KIND = tuple(
    (f"{m}{p}{a}", k)
    for m in ("", "milter-")
    for p in ("", "header-", "body-")
    for a, k in (("reject", K.REJECT), ("hold", K.HOLD), ("discard", K.DISCARD), ("redirect", K.REDIRECT),
                 ("filter", K.FILTER), ("warning", K.OTHER), ("info", K.OTHER), ("replace", K.OTHER),
                 ("prepend", K.OTHER), ("bcc", K.OTHER), ("strip", K.OTHER))
)


def _delivery(daemon: str, *samples: str, kind: K = K.DELIVER, by_status: bool = True, tags: frozenset[str] = frozenset()) -> Rule:
    return Rule(f"postfix.{daemon}.delivery_status", daemon, DELIVERY, kind, samples,
                kind_by=("status", STATUS_KIND) if by_status else None, tags=frozenset({Tag.DELIVERY_STATUS}) | tags)


def _catch_all(daemon: str, *samples: str) -> Rule:
    """For auxiliary daemons whose every message is operational, with no lifecycle meaning."""
    return Rule(f"postfix.{daemon}.message", daemon, r"^(?P<detail>.*)$", K.OTHER, samples)


RULES: tuple[Rule, ...] = (
    # ---- any daemon: severity prefixes (the qid may follow the level)
    Rule("postfix.any.warning_qid", "*", rf"^warning: {QID}: (?P<detail>.*)$", K.WARNING,
         ("warning: 9BECF3F19D: sender_canonical_maps map lookup problem for sender@example.com -- message not accepted, try again later",)),
    Rule("postfix.any.warning", "*", r"^warning: (?P<detail>.*)$", K.WARNING,
         ("warning: dict_nis_init: NIS domain name not set - NIS lookups disabled",)),
    Rule("postfix.any.error", "*", r"^error: (?P<detail>.*)$", K.WARNING,
         ("error: open database /etc/postfix/transport.db: No such file or directory",), set=(("status", "error"),)),
    Rule("postfix.any.table_changed", "*", r"^(?P<detail>table \S+ has changed -- restarting)$", K.OTHER,
         ("table hash:/etc/postfix/virtual_mailbox_maps(0,lock|fold_fix) has changed -- restarting",)),
    Rule("postfix.any.fatal", "*", r"^fatal: (?P<detail>.*)$", K.FATAL, ("fatal: root(0): message file too big",)),
    Rule("postfix.any.panic", "*", r"^panic: (?P<detail>.*)$", K.PANIC,
         ("panic: myfree: corrupt or unallocated memory block",)),
    # ---- smtp / lmtp (lmtp shares smtp's table)
    _delivery("smtp",
              "0D9633D: to=<jos@example.com>, orig_to=<bestuur@example.com>, relay=mail1.example.net[10.74.103.11]:25, delay=11, delays=5.4/0.06/5.1/0.03, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as F12DF84004)",
              "A0E85200BD: to=<whatever-user@lists.example.org>, relay=open.example.nl[10.49.140.10]:25, delay=2.3, delays=0.25/0.05/2/0.04, dsn=4.2.0, status=deferred (host open.example.nl[10.49.140.10] said: 450 4.2.0 <whatever-user@lists.example.org>: Recipient address rejected: Greylisted (in reply to RCPT TO command))",
              "7EE668039: to=<user@example.com>, relay=mail.example.com[1.2.3.4]:25, delay=3.6, delays=0.08/0.02/0.85/0.14, tls=dane/requiretls, dsn=2.1.5, status=sent (250 2.0.0 Ok: queued as 153053D)",
              "34B3F4317: to=<gabriel.matthews@cs.tcd.ie>, relay=127.0.0.1[127.0.0.1], delay=7, status=sent (250 2.6.0 Ok, id=16661-16, from MTA([127.0.0.1]:11025): 250 Ok: queued as 8B22B43C3)"),
    Rule("postfix.smtp.host_said", "smtp", rf"^{QID}: host (?P<relay>\S+) said: (?P<reply_text>.*)$", K.OTHER,
         ("ED59C3D: host mail2.example.com[1.74.253.23] said: 450 4.7.1 <user@example.com>: Recipient address rejected: Greylisted for 5 minutes (in reply to RCPT TO command)",)),
    Rule("postfix.smtp.refused_to_talk", "smtp", rf"^{QID}: host (?P<relay>\S+) refused to talk to me: (?P<reply_text>.*)$", K.OTHER,
         ("40197AA: host mg2.egov.bg[213.91.191.86] refused to talk to me: 450 4.3.2 try again later",)),
    Rule("postfix.smtp.lost_connection", "smtp", rf"^{QID}: (?:lost connection with|conversation with) (?P<relay>\S+) (?P<detail>(?:timed out )?while .*)$", K.OTHER,
         ("745137AA: lost connection with hotmail-com.olc.protection.outlook.com[104.47.55.161] while sending RCPT TO",
          "78D6B41: conversation with mx00.gmx.com[74.208.5.4] timed out while receiving the initial server greeting")),
    Rule("postfix.smtp.session_note", "smtp", rf"^{QID}: (?P<detail>(?:SASL authentication failed|Used TLS for|enabling PIX workarounds|breaking line|Cannot start TLS|TLS is required|Server certificate not|server certificate|host \S+ \w+ TLS|mail for \S+ loops back).*)$", K.OTHER,
         ("D0F29603B4: SASL authentication failed; server xyz.example.com[1.2.3.4] said: 535 5.7.8 Error: authentication failed: authentication failure",
          "B0ADE20FC7: enabling PIX workarounds: disable_esmtp delay_dotcrlf for example.com[93.184.216.34]:25",
          "01B3A96050: Used TLS for 10.19.65.1[10.19.65.1]:587")),
    Rule("postfix.smtp.connect_failed", "smtp", r"^connect to (?P<relay>\S+?): (?P<detail>.*)$", K.OTHER,
         ("connect to intern.nl[194.109.6.98]:25: Connection timed out",
          "connect to aspmx.l.google.com[2a00:1450:400b:c02::1a]:25: Network is unreachable")),
    Rule("postfix.smtp.tls", "smtp",
         r"^(?P<detail>(?:(?:Anonymous|Untrusted|Trusted|Verified) TLS connection established to|certificate verification failed for|SSL_connect error to|server certificate verification failed for|Host offered STARTTLS|[\w.-]+\[[^\]]*\]:\d+: (?:re-using session|Matched|depth=|subject_CN|issuer)|TLS library problem).*)$",
         K.OTHER,
         ("Untrusted TLS connection established to mx4.hotmail.com[65.55.92.136]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-SHA384 (256/256 bits)",
          "certificate verification failed for mail.example.com[113.169.17.115]:25: self-signed certificate.",
          "SSL_connect error to mail.example.org[112.63.65.2]:25: lost connection")),
    # ---- smtpd
    Rule("postfix.smtpd.connect", "smtpd", rf"^connect from {CLIENT}$", K.CONNECT,
         ("connect from 061238241086.static.ctinets.com[61.238.241.86]",)),
    Rule("postfix.smtpd.disconnect", "smtpd", rf"^disconnect from {CLIENT}(?: (?P<detail>.*))?$", K.DISCONNECT,
         ("disconnect from unknown[72.10.165.66] ehlo=2 starttls=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=5/7",
          "disconnect from 061238241086.static.ctinets.com[61.238.241.86]")),
    Rule("postfix.smtpd.client", "smtpd", rf"^{QID}: client={CLIENT}(?P<detail>,.*)?$", K.ACCEPT,
         ("4104E3D: client=061238241086.static.ctinets.com[61.238.241.86]",
          "D4F2023DB: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=user@example.com")),
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
          "SSL_accept error from unknown[72.13.58.7]: lost connection")),
    Rule("postfix.smtpd.protocol_note", "smtpd",
         rf"^(?P<detail>improper command pipelining after \S+|bare <(?:LF|CR)> received after \S+|non-SMTP command|too many \w+) from {CLIENT}(?::.*)?$", K.OTHER,
         ("improper command pipelining after EHLO from unknown[2001:968:9999:20:415c:cd2:da8e:d0cf]: MAIL FROM:<>\\nRCPT TO:<tom@example.net>\\n",
          "bare <LF> received after CONNECT from example.net[1.2.3.4]")),
    Rule("postfix.smtpd.discarding_ehlo", "smtpd", r"^(?P<detail>discarding EHLO keywords: .*)$", K.OTHER,
         ("discarding EHLO keywords: CHUNKING ETRN DSN 8BITMIME",)),
    Rule("postfix.smtpd.qid_note", "smtpd", rf"^{QID}: (?P<detail>(?:enabling PIX|sasl_|Sender address triggers|filter:|client=)[^\n]*)$", K.OTHER,
         ("B0ADE20FC7: enabling PIX workarounds: disable_esmtp delay_dotcrlf for example.com[93.184.216.34]:25",)),
    # ---- postscreen
    Rule("postfix.postscreen.connect", "postscreen", rf"^CONNECT from {CLIENT}(?: to \[[^\]]*\]:\d+)?$", K.CONNECT,
         ("CONNECT from [61.238.241.86]:53024 to [89.105.204.244]:25",)),
    Rule("postfix.postscreen.disconnect", "postscreen", rf"^DISCONNECT {CLIENT}$", K.DISCONNECT, ("DISCONNECT [216.81.72.72]:43421",)),
    Rule("postfix.postscreen.noqueue", "postscreen", NOQUEUE, K.REJECT,
         ("NOQUEUE: reject: RCPT from [182.98.255.184]:2413: 550 5.5.1 Protocol error; from=<lvtowxfdp@yahoo.com>, to=<tom@example.com>, proto=SMTP, helo=<mx32.usaindiamunish.net>",
          "NOQUEUE: reject: CONNECT from [1.2.3.4]:1337: too many connections"),
         kind_by=("status", NOQUEUE_KIND), tags=frozenset({Tag.NOQUEUE})),
    Rule("postfix.postscreen.action", "postscreen",
         rf"^(?P<status>PASS OLD|PASS NEW|WHITELISTED|BLACKLISTED|ALLOWLISTED|DENYLISTED|WHITELIST VETO|ALLOWLIST VETO|PREGREET|DNSBL|HANGUP|COMMAND TIME LIMIT|COMMAND COUNT LIMIT|COMMAND LENGTH LIMIT|NON-SMTP COMMAND|COMMAND PIPELINING|BARE NEWLINE)(?P<detail>[^\[]*?)(?:from |for )?{CLIENT}(?:\s.*|:.*)?$",
         K.OTHER,
         ("PASS NEW [2607:f8b0:4003:c01::23a]:36051", "PREGREET 6 after 1.2 from [216.81.72.72]:43421: RSET\\r\\n",
          "DNSBL rank 3 for [111.73.45.149]:1038", "HANGUP after 63 from [111.73.45.149]:1038 in tests after SMTP handshake",
          "COMMAND TIME LIMIT from [182.246.250.243]:51799 after CONNECT", "DENYLISTED [192.0.2.5]:1234"),
         tags=frozenset({Tag.POSTSCREEN})),
    Rule("postfix.postscreen.without_rcpt", "postscreen", rf"^(?P<detail>(?:DATA|BDAT) without valid RCPT) from {CLIENT}$", K.OTHER,
         ("DATA without valid RCPT from [123.45.67.89]:12345", "BDAT without valid RCPT from [123.45.67.89]:12345")),
    Rule("postfix.postscreen.cache", "postscreen", r"^(?P<detail>cache \S+ (?:full|partial) cleanup: .*)$", K.OTHER,
         ("cache btree:/var/lib/postfix-in/postscreen_cache full cleanup: retained=242 dropped=7 entries",)),
    Rule("postfix.postscreen.note", "postscreen", r"^(?P<detail>(?:all screening ports busy|all server ports busy|reloading|saving).*)$", K.OTHER,
         ("all screening ports busy",)),
    # ---- pickup
    Rule("postfix.pickup.uid", "pickup", rf"^{QID}: uid=(?P<detail>\d+) from=<(?P<sender>[^>]*)>(?: orig_id=\S+)?$", K.ACCEPT,
         ("D2FAE20586: uid=0 from=<fail2ban>",)),
    # ---- cleanup
    Rule("postfix.cleanup.message_id", "cleanup", rf"^{QID}: message-id=<?(?P<message_id>[^>]*)>?$", K.HEADER,
         ("0F5383D: message-id=<544D2523.30609@rhsoft.net>", "4104E3D: message-id=<>",
          "ADD961003206D: message-id==?UTF-8?B?PDE5?=? =?UTF-8?B?MTIyMDExMjkxNjYxMUBDbGllbnQtMDQ1LnJ1YmluZXR0ZXJpZS5sb2NhbD4=?=")),
    Rule("postfix.cleanup.resent_message_id", "cleanup", rf"^{QID}: resent-message-id=(?P<detail>.*)$", K.OTHER,
         ("1A2B3C4D5E: resent-message-id=<20140225.1@example.com>",)),
    Rule("postfix.cleanup.checks", "cleanup",
         rf"^{QID}: (?P<status>(?:milter-)?(?:header-|body-)?(?:reject|hold|discard|redirect|filter|warning|info|replace|prepend|bcc|strip)): (?P<detail>.*)$",
         K.OTHER,
         ("4104E3D: milter-reject: END-OF-MESSAGE from 061238241086.static.ctinets.com[61.238.241.86]: 5.7.1 Blocked by SpamAssassin; from=<wumt5@cchfdc.com> to=<voorzitter@example.com> proto=ESMTP helo=<ecsolved.com>",
          "D95341E50350: info: header Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?= test from local; from=<from@example.com> to=<to@example.com>",
          "48rT2v1hQrz1J0N: prepend: header X-Spam-Status: Yes, score=45.1 required=10.0 tests=ADVANCE_FE from mx2.example.org[192.0.2.41]; from=<noreply@srs.example.org> to=<recipient@example.net> proto=ESMTP helo=<mx2.example.org>"),
         kind_by=("status", CHECKS_KIND), tags=frozenset({Tag.CHECKS})),
    # ---- qmgr (oqmgr/nqmgr share it)
    Rule("postfix.qmgr.removed", "qmgr", rf"^{QID}: removed$", K.REMOVE, ("0F5383D: removed",)),
    Rule("postfix.qmgr.from", "qmgr", rf"^{QID}: from=<(?P<sender>[^>]*)>, size=(?P<size>\d+), nrcpt=(?P<nrcpt>\d+) \((?P<detail>[^)]*)\)$", K.QUEUED,
         ("0F5383D: from=<owner-postfix-users@postfix.org>, size=5360, nrcpt=1 (queue active)",)),
    Rule("postfix.qmgr.expired", "qmgr", rf"^{QID}: from=<(?P<sender>[^>]*)>, status=(?P<status>expired|force-expired), returned to sender$", K.EXPIRE,
         ("66C15648577B: from=<uvnhbl@yahoo.com.tw>, status=expired, returned to sender", "585BC3F: from=<>, status=expired, returned to sender")),
    Rule("postfix.qmgr.skipped", "qmgr", rf"^{QID}: (?P<detail>skipped, still being delivered)$", K.OTHER,
         ("ED06590130AA1C9D6D862: skipped, still being delivered",)),
    _delivery("qmgr",
              "2DC5552A34: to=<user@yahoo.com>, relay=none, delay=63495, delays=63350/144/0/0, dsn=4.4.2, status=deferred (delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO)"),
    # ---- bounce (defer and trace share it)
    Rule("postfix.bounce.notification", "bounce",
         rf"^{QID}: (?P<detail>sender|postmaster) (?P<status>non-delivery|delivery status|delay|success) notification: (?P<next_queue_id>[0-9A-Za-z]{{5,}})$", K.NOTIFY,
         ("17CCA8044: sender non-delivery notification: ADD2F8052", "264FE1A18: sender delay notification: 0A87A1A08",
          "482E4404AC8: postmaster non-delivery notification: 47335405A44")),
    # ---- postsuper
    Rule("postfix.postsuper.removed", "postsuper", rf"^{QID}: removed$", K.DELETE, ("D4F2023DB: removed",)),
    Rule("postfix.postsuper.requeued", "postsuper", rf"^{QID}: requeued$", K.REQUEUE, ("D4F2023DB: requeued",)),
    Rule("postfix.postsuper.hold", "postsuper", rf"^{QID}: placed on hold$", K.HOLD, ("D4F2023DB: placed on hold",)),
    Rule("postfix.postsuper.released", "postsuper", rf"^{QID}: released from hold$", K.RELEASE, ("D4F2023DB: released from hold",)),
    Rule("postfix.postsuper.expired", "postsuper", rf"^{QID}: (?P<detail>expired)$", K.OTHER, ("D4F2023DB: expired",)),
    Rule("postfix.postsuper.count", "postsuper", r"^(?P<detail>(?:Deleted|Requeued|Placed on hold|Released from hold|Expired): \d+ messages?)$", K.OTHER,
         ("Deleted: 115 messages", "Requeued: 1 message")),
    # ---- final delivery agents
    _delivery("local",
              "8B22B43C3: to=<gabriel.matthews@cs.tcd.ie>, relay=local, delay=0, status=sent (forwarded as 9627443F0)",
              "2A22C263F6: to=user@hostname.example.com, orig_to=root@localhost, relay=local, delay=0.07, delays=0.04/0/0/0.03, dsn=2.0.0, status=sent (delivered to command: procmail -a \"$EXTENSION\")",
              "892A0205B6: to=ghdsgfhdslfh@localhost, relay=local, delay=0.05, delays=0.02/0/0/0.02, dsn=5.1.1, status=bounced (unknown user: \"ghdsgfhdslfh\")",
              tags=frozenset({Tag.FINAL})),
    _delivery("virtual", "B657F2DB195D: to=<postmaster@example.com>, relay=virtual, delay=0.52, delays=0.51/0.01/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
              tags=frozenset({Tag.FINAL})),
    _delivery("pipe",
              "0F5383D: to=<tom@example.com>, relay=dovecot, delay=4.3, delays=4.1/0.01/0/0.15, dsn=2.0.0, status=sent (delivered via dovecot service)",
              "2F6C83D: to=<user@example.org>, relay=dovecot, delay=5.1, delays=4.4/0.02/0/0.61, dsn=5.1.1, status=bounced (user unknown)",
              tags=frozenset({Tag.FINAL})),
    _delivery("error",
              "2DC5552A34: to=<user@yahoo.com>, relay=none, delay=63495, delays=63350/144/0/0, dsn=4.4.2, status=deferred (delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO)",
              "3E29030F8637E: to=<user@yahoo.com>, relay=none, delay=0.01, delays=0.01/0/0/0, dsn=5.1.1, status=undeliverable-but-not-cached (User unknown in virtual alias table)"),
    _delivery("discard", "25F2E5E061: to=<george.desantis@test.example.com>, relay=none, delay=0.05, delays=0.05/0/0/0, dsn=2.0.0, status=sent (test.example.com)",
              kind=K.DISCARD, by_status=False, tags=frozenset({Tag.DISCARD_SENT})),
    # ---- auxiliary daemons: operational messages only
    Rule("postfix.anvil.statistics", "anvil", r"^statistics: (?P<detail>.*)$", K.OTHER,
         ("statistics: max connection rate 1/60s for (smtpd:61.238.241.86) at Oct 26 18:13:50",)),
    Rule("postfix.scache.statistics", "scache", r"^statistics: (?P<detail>.*)$", K.OTHER,
         ("statistics: domain lookup hits=0 miss=1 success=0%", "statistics: start interval Dec  6 21:20:35")),
    Rule("postfix.dnsblog.listed", "dnsblog", r"^addr (?P<client_ip>\S+) listed by domain (?P<detail>.*)$", K.OTHER,
         ("addr 61.238.241.86 listed by domain psbl.surriel.com as 127.0.0.2",)),
    _catch_all("master", "daemon started -- version 2.11.0, configuration /etc/postfix", "terminating on signal 15"),
    _catch_all("verify", "cache lmdb:/var/lib/postfix/verify_cache full cleanup: retained=724 dropped=6 entries"),
    _catch_all("tlsproxy", "CONNECT from [82.118.17.142]:51637", "DISCONNECT [82.118.17.142]:51637"),
    _catch_all("tlsmgr", "prng_exch: /var/lib/postfix/prng_exch"),
    _catch_all("trivial-rewrite", "dict_eval: const  empty"),
    _catch_all("postfix-script", "starting the Postfix mail system"),
    _catch_all("postmap", "open database /etc/postfix/virtual.db"),
    _catch_all("postalias", "open database /etc/aliases.db"),
    _catch_all("postdrop", "uid=0: File too large"),
    _catch_all("sendmail", "uid=0: File too large"),
    _catch_all("postqueue", "Mail system is down -- accessing queue directly"),
    _catch_all("postlogd", "logfile rotated"),
    _catch_all("postmulti", "starting instance postfix-out"),
    _catch_all("proxymap", "proxy_read_maps: table not approved"),
    _catch_all("flush", "flush_add: example.com"),
    _catch_all("showq", "showq: cannot open queue"),
    _catch_all("spawn", "command /usr/bin/policyd exit status 1"),
)

DAEMONS = sorted({r.program for r in RULES if r.program != "*"} | {"lmtp", "oqmgr", "nqmgr", "defer", "trace", "retry"})


class PostfixParser(RuleParser):
    """Postfix syslog / ``maillog_file`` lines."""

    name: ClassVar[str] = "postfix"
    aliases: ClassVar[tuple[str, ...]] = ("pf",)
    mta: ClassVar[str] = "postfix"
    tags: ClassVar[frozenset[str]] = frozenset({Tag.PFLOGSUMM, Tag.INSTANCE_FROM_PROGRAM})
    rules: ClassVar[tuple[Rule, ...]] = RULES
    daemon_aliases: ClassVar[dict[str, str]] = {"lmtp": "smtp", "oqmgr": "qmgr", "nqmgr": "qmgr", "defer": "bounce",
                                                 "trace": "bounce", "retry": "error"}
    family_pattern: ClassVar[str | None] = r"^postfix(?:-[\w.-]+)?/"
    program_pattern: ClassVar[str] = r"^[\w.-]+(?:/[\w.-]+)*/(?P<daemon>" + "|".join(d.replace("-", r"\-") for d in DAEMONS) + r")$"
