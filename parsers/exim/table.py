"""Exim rule table: main-log flag lines, ACL rejections, sessions, panic and reject-log lines.

Data only (patterns, derivations, conversions, rule tags); the generic executors in
:mod:`logtrace.parsing.rules` run it. Order matters: first match wins. Field conventions are
in the package docstring.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from logtrace.events import EventKind as K
from logtrace.parsing.cuts import Cut
from logtrace.parsing.rules import DERIVATION_CUTS, DERIVATIONS, Rule
from logtrace.parsing.tags import Tag

ID = r"[0-9A-Za-z]{6}-(?:[0-9A-Za-z]{6}-[0-9A-Za-z]{2}|[0-9A-Za-z]{11}-[0-9A-Za-z]{4})"
QID = rf"(?P<queue_id>{ID})"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?"

#: The envelope: optional syslog wrapper (any program after an RFC 3164 / ISO-``T`` stamp;
#: only ``exim*`` after a space-separated stamp or none), optional Exim stamp with zone,
#: optional ``[pid]``, body. Every line matches; ``stamped`` is decided from the groups.
ENVELOPE = (
    r"^(?:(?:(?P<ts3164>[A-Z][a-z]{2} [ 0-3]?\d \d\d:\d\d:\d\d(?:\.\d+)?)"
    r"|(?P<tsT>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?))"
    r" (?:<\w+\.\w+> )?(?P<host>[^\s\[\]]+) (?P<program>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?: "
    rf"|(?:(?P<tsS>{STAMP})(?: (?P<tzS>[+-]\d{{4}}))? )?(?P<host2>[^\s\[\]:]+) (?P<program2>exim[\w.-]*)(?:\[(?P<pid2>\d+)\])?: )?"
    rf"(?:(?P<ts>{STAMP})(?: (?P<tz>[+-]\d{{4}}))? )?"
    r"(?:\[(?P<xpid>\d+)\] )?"
    r"(?P<body>.*)$"
)
EXIM_PROGRAM = r"^exim"
#: Exim's own log in its default form: a stamp without fraction, zone or pid, then the body. The
#: first character of the body excludes the optional groups (``.ms``, ``+zone``, ``[pid]``), so the
#: rows this guard takes minus those :data:`NATIVE_SYSLOG` takes get exactly ``ts`` and ``body``
#: from :data:`ENVELOPE`.
NATIVE_GUARD = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [^\s\[+.-]"
#: … unless the body is a syslog ``host exim[pid]: `` (ENVELOPE's second alternative)
NATIVE_SYSLOG = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [^\s\[\]:]+ exim[\w.-]*(?:\[\d+\])?: "

#: A client as Exim prints it: ``host (helo) [ip]:port``, ``(helo) [ip]``, ``[ip]``, or a name.
CLIENT = (r"(?:[^\s(\[]+(?: \([^)]*\))?(?: \[[^\]\s]*\](?::\d+)?)?"
          r"|\([^)]*\) \[[^\]\s]*\](?::\d+)?|\[[^\]\s]*\](?::\d+)?)")
#: ``H=`` of a delivery, with relay groups (``[4.4.4.4:`` without ``]`` occurs in real logs).
RELAY = (r"(?:(?P<relay_host>[^\s(\[]+) ?)?(?:\([^)]*\) ?)?"
         r"(?:\[(?P<relay_ip>[^\]\s]*[^\]\s:])\]?(?::(?P<relay_port>\d+))?)?\*?")
#: A recipient as delivery lines print it, then the optional ``<parent address>``.
RCPT = r"(?P<recipient>\"[^\"]*\"@\S+|[^\s\"<]\S*)(?: <(?P<orig_recipient>[^>]*)>)?"
#: ``key=value`` tokens before a ``: reason`` (values may be quoted; never end in ``:``).
TOKENS = r"(?: (?:[A-Za-z0-9]+=\"[^\"]*\"|[^\s\"]*[^\s\":]))"
FIELDS = r"(?: [A-Z][A-Za-z]*=\S+)*"

#: Raw helper groups: ``rcv`` (receiving side: H= is the client), ``dlv`` (delivery side: H=
#: is the relay), ``why`` (failure text after ``defer (errno)``), ``client_spec`` (a bare
#: CLIENT), ``qt``/``dt``/``rt`` (durations, converted after the derivations).
EXIM_DERIVATIONS: tuple[tuple[str, str], ...] = (
    ("rcv", r"(?:^| )H=(?:(?P<client_host>[^\s(\[]+) ?)?(?:\([^)]*\) ?)?(?:\[(?P<client_ip>[^\]\s]*[^\]\s:])\])?"),
    ("rcv", r"(?:^| )F=<?(?P<sender>\"[^\"]*\"@[^\s>]*|[^\s<>\"]*)>?(?: |$)"),
    ("rcv", r"(?:^| )S=(?P<size>\d+)(?: |$)"),
    ("rcv", r"(?:^| )id=<?(?P<message_id>[^\s<>]+)>?(?: |$)"),
    ("rcv", r"(?:^| )RT=(?P<rt>\S+)"),
    ("rcv", r" for (?P<recipient>\S+)$"),
    ("client_spec", r"^(?:(?P<client_host>[^\s(\[]+) ?)?(?:\([^)]*\) ?)?(?:\[(?P<client_ip>[^\]\s]*[^\]\s:])\])?"),
    ("dlv", r"(?:^| )H=" + RELAY),
    ("dlv", r"(?:^| )C=\"(?P<reply_text>.*?)\"(?: [A-Z][A-Z0-9]*=\S*)*$"),
    ("dlv", r"(?:^| )QT=(?P<qt>\S+)"),
    ("dlv", r"(?:^| )DT=(?P<dt>\S+)"),
    ("dlv", r"(?:^| )T=(?P<detail>\S+)"),  # the transport (eximstats' "Deliveries by transport"); == keeps "defer (errno)"
    ("why", r"(?:^| )H=" + RELAY),
    ("why", r"^(?:: [^:]*?)? H=\S*(?: \[[^\]\s]*\]?(?::\d+)?)?\*?(?: [A-Za-z0-9]+=(?:\"[^\"]*\"|\S+))*: (?P<reply_text>.+)$"),
    ("why", r"^: (?P<reply_text>.+)$"),
    ("reply_text", r"^SMTP error from remote mail server after [^:<]*(?::<[^>]*>)?: "
                   r"(?P<reply_code>[2-5]\d\d)[ -](?:(?P<dsn>[2-5]\.\d{1,3}\.\d{1,3})\b)?"),
    *(d for d in DERIVATIONS if d[0] == "reply_text"),
)


def _pattern(src: str, start: str) -> str:
    return next(p for s, p in EXIM_DERIVATIONS if s == src and p.startswith(start))


#: Fast cuts beside the hot derivations (:mod:`logtrace.parsing.cuts`), for their common shapes. The
#: patterns search for the leftmost ``(?:^| )KEY=``: each guard makes sure no earlier place can match
#: (``H=`` first, no ``"`` before ``C="``), so splitting at the first separator gives what the pattern
#: captures; any other value goes through the pattern. (Cuts for ``dlv H=`` and ``rcv id=`` were measured
#: slower than their short unanchored patterns' ``extract_groups``, ~0.4 µs a row, and left out.)
_H = r"[^\s(\[]+ \[[^\]\s]*[^\]\s:]\]"
EXIM_DERIVATION_CUTS: dict[str, tuple[Cut, ...]] = {
    _pattern("rcv", "(?:^| )H="): (Cut(rf"^ H={_H}", (("split", "rcv", " [", ("_h", "_r")),
                                                    ("strip", "_h", "client_host", " H=", ""),
                                                    ("split", "_r", "]", ("client_ip", "_x"))), src="rcv"),),
    _pattern("dlv", "(?:^| )C="): (Cut(r'^[^"]* C="[^"]*"$',
                                     (("split", "dlv", ' C="', ("_a", "_b")), ("strip", "_b", "reply_text", "", '"')),
                                     src="dlv"),),
}

DERIVATION_CUTS_ALL = {**DERIVATION_CUTS, **EXIM_DERIVATION_CUTS}

#: ``QT=``/``DT=``/``RT=`` in Exim's ``1m2s`` form become seconds (first non-null per target wins).
CONVERSIONS = (("qt", "delay_s", "duration"), ("dt", "delay_s", "duration"), ("dt", "delay_xmit_s", "duration"),
               ("rt", "delay_before_qmgr_s", "duration"))


#: Fast cuts beside the two most frequent flag lines (:mod:`logtrace.parsing.cuts`): ``<=`` with a bare
#: sender and fields, ``=>``/``->``/``>>`` with a bare recipient, with or without ``<parent>``. Every
#: other shape (``<sender>``, quoted local parts, no fields) goes through the rule's pattern. A guard only
#: sees rows its rule's pattern matched, so it need not check what the pattern already did (``.*$``).
ACCEPT_CUT = Cut(rf"^{ID} <= [^\s<>]+ ",
                 (("split", "body", " ", ("queue_id", "_f", "sender", "_d")), ("prepend", "_d", "rcv", " ")))
DELIVER_CUTS = (
    Cut(rf"^{ID} (?:=>|->|>>) [^\s\"<]\S*(?:$| [^<])",
        (("split", "body", " ", ("queue_id", "_f", "recipient", "_d")), ("prepend", "_d", "dlv", " "))),
    Cut(rf"^{ID} (?:=>|->|>>) [^\s\"<]\S* <[^>]*> ",
        (("split", "body", " ", ("queue_id", "_f", "recipient", "_o")), ("split", "_o", ">", ("_p", "dlv")),
         ("strip", "_p", "orig_recipient", "<", ""))),
)


def _r(what: str, pattern: str, kind: K, *samples: str, program: str = "main", **kw: Any) -> Rule:
    prefix = {"main": "main", "panic": "paniclog", "continuation": "rejectlog"}[program]
    rid = what if "." in what else f"exim.{prefix}.{what}"
    return Rule(rid, program, pattern, kind, samples, **kw)


RULES: tuple[Rule, ...] = (
    # ---- per-message flag lines
    _r("accept_bounce", rf"^{QID} <= <(?P<sender>)> R=(?P<next_queue_id>{ID})(?P<rcv> .*)?$", K.ACCEPT,
       "1jmFas-0004f6-EB <= <> R=1jmFYj-00039V-QX U=Debian-exim P=local S=8656",
       "10HmbA-000000005vi-0000 <= <> R=10HmaZ-000000005vi-0000 U=EXIMUSER P=local S=sss for b@dump.ex",
       set=(("status", "bounce-of"),)),
    _r("accept", rf"^{QID} <= <?(?P<sender>[^\s<>]*)>?(?P<rcv> .*)?$", K.ACCEPT,
       "1jmXgg-000AIC-89 <= tom@test.corp H=(relay.test.corp) [4.4.4.4] P=esmtp S=15670 id=28f524f604c24d70a519a32fcbdf01d9@test.corp",
       "1dOqvZ-0002HB-Ob <= Brain_Power_101@pour.brainpowercompletely.us H=in3f.electric.net [72.35.12.46]:47218 P=esmtps X=TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=no S=6297 T=\"Millionaires, CEOs, Entrepreneurs are using brain pills to boost intelligence.\" for user@localdomain.com",
       "10HmaZ-000000005vi-0000 <= CALLER@myhost.test.ex U=CALLER P=local S=sss RT=q.qqqs",
       "10HmbA-000000005vi-0000 <= <> U=CALLER P=local S=sss", cut=ACCEPT_CUT),
    _r("fakereject", rf"^{QID} \(= <?(?P<sender>[^\s<>]*)>?(?P<rcv> .*)?$", K.ACCEPT,
       "10HmbC-000000005vi-0000 (= b2@dump.ex H=localhost (myhost.test.ex) [127.0.0.1] P=esmtp S=sss for rmt_fakereject@test.ex",
       set=(("status", "fakereject"),)),
    _r("deliver", rf"^{QID} (?:=>|->|>>) {RCPT}(?P<dlv> .*)?$", K.DELIVER,
       "1jmH1s-000AVD-5t => dave@foo.corp R=dnslookup T=remote_smtp H=mail.foo.corp [1.1.1.1] C=\"250 2.0.0 Ok: queued\"",
       "10HmaX-000000005vi-0000 => abcd@eximtesthost.test.ex <abcd@eximtesthost> R=lookuphost T=send_to_server H=eximtesthost.test.ex [ip4.ip4.ip4.ip4] C=\"250 OK id=10HmaY-000000005vi-0000\"",
       "1jmXgg-000AIC-89 -> sally@dummy.corp R=dnslookup T=remote_smtp_smarthost H=smarthost.test.corp [5.5.5.5] X=TLS1.2:ECDHE_RSA_AES_128_GCM_SHA256:128 CV=yes DN=\"C=XX,L=Here,O=Text Corp,CN=*.test.corp\" C=\"250 6292145-1592637196662@smarthost.test.corp Received OK [sHQA_0EGOfCC2A2sh3iD5g]\"",
       "10HmaZ-000000005vi-0000 => userx <userx@test.ex> R=r1 T=t1 QT=q.qqqs DT=q.qqqs",
       "10HmaY-000000005vi-0000 => :blackhole: <CALLER@test.ex> R=null", cut=DELIVER_CUTS),
    _r("suppressed", rf"^{QID} \*> {RCPT}(?P<dlv> .*)?$", K.OTHER,
       "10HmbB-000000005vi-0000 *> xxx@ten-1.test.ex R=lookuphost T=smtp H=ten-1.test.ex [V4NET.0.0.1] C=\"delivery bypassed by -N option\"",
       "10HmaY-000000005vi-0000 *> CALLER <CALLER@myhost.ex> R=localuser T=local_delivery",
       set=(("status", "suppressed"),)),
    _r("bounce", rf"^{QID} \*\* {RCPT}(?P<dlv>{TOKENS}*) ?: (?P<reply_text>.*)$", K.BOUNCE,
       "1jmKso-0009d4-Uf ** molly@zee.corp R=dnslookup T=remote_smtp H=mail.zee.corp [3.3.3.3] X=TLS1.2:ECDHE_RSA_AES_256_GCM_SHA384:256 CV=yes DN=\"C=US,ST=Fake,L=Lost,O=Zee Corp,CN=mail.zee.corp\": SMTP error from remote mail server after end of data: 554 5.2.0 mKr3jsd25ZIfXmKr4jFD2w Recipient Mailbox Full [504]",
       "1jmFYj-00039V-QX ** bob@null.corp: retry timeout exceeded",
       "10HmaX-000000005vi-0000 ** xxx@unknown.test.ex : unknown.test.ex is not local, and can't route by DNS",
       "1dMVBf-0007Wx-F5 ** nobody@domain.com R=virtual_aliases: No Such User Here",
       "10HmbA-000000005vi-0000 ** userx@test.ex R=r1 T=t1 : all hosts for 'test.ex' have been failing for a long time (and retry time not reached)",
       kind_by=("reply_text", (("retry timeout exceeded", K.EXPIRE),))),
    _r("defer", rf"^{QID} == {RCPT}(?P<dlv>{TOKENS}*?) (?P<detail>(?:routing )?defer \([^)]*\))(?P<why>.*)$", K.DEFER,
       "1jmFYj-00039V-QX == bob@null.corp R=dnslookup T=remote_smtp defer (110): Connection timed out",
       "10HmaY-000000005vi-0000 == userz@domain1 routing defer (-52): retry time not reached",
       "10HmaX-000000005vi-0000 == userz@domain1 R=others T=smtp defer (-44) H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT TO:<userz@domain1>: 450 Temporary error 1",
       "1raAV4-009jr4-9x == jack@test.corp R=dnslookup T=remote_smtp defer (-44) H=(relay.test.corp) [4.4.4.4: SMTP error from remote mail server after RCPT TO:<jack@test.corp>: 450 4.7.1 <jack@test.corp>: Recipient address rejected: Recipient not available",
       "10HmaX-000000005vi-0000 == f@test.ex R=client T=send_to_server defer (dd): Connection timed out H=127.0.0.1 [127.0.0.1]: SMTP timeout after RCPT TO:<f@test.ex>"),
    _r("completed", rf"^{QID} Completed(?: QT=(?P<qt>\S+))?$", K.REMOVE,
       "1jmFYj-00039V-QX Completed", "10HmaZ-000000005vi-0000 Completed QT=q.qqqs"),
    _r("removed", rf"^{QID} removed by (?P<detail>.+)$", K.DELETE, "10HmaX-000000005vi-0000 removed by CALLER"),
    _r("frozen", rf"^{QID} (?P<detail>Frozen(?: .*)?|frozen by .+|Message is frozen)$", K.HOLD,
       "10HmaY-000000005vi-0000 Frozen (delivery error message)", "10HmaX-000000005vi-0000 frozen by root",
       "10HmaX-000000005vi-0000 Message is frozen",
       "10HmaX-000000005vi-0000 Frozen by the system filter: subject was \"should freeze this\"\\nHere are two extra\\nlines of text"),
    _r("unfrozen", rf"^{QID} (?P<detail>[Uu]nfrozen by .+)$", K.RELEASE,
       "10HmaY-000000005vi-0000 Unfrozen by errmsg timer", "10HmaX-000000005vi-0000 Unfrozen by forced delivery"),
    _r("cancelled", rf"^{QID} cancelled by (?P<detail>.+)$", K.BOUNCE,
       "10HmaX-000000005vi-0000 cancelled by timeout_frozen_after", "10HmaX-000000005vi-0000 cancelled by CALLER",
       kind_by=("detail", (("timeout_frozen_after", K.EXPIRE),))),
    _r("marked_delivered", rf"^{QID} address <(?P<recipient>[^>]*)> marked delivered by (?P<detail>.+)$", K.OTHER,
       "10HmaX-000000005vi-0000 address <usery@domain1> marked delivered by CALLER", set=(("status", "marked-delivered"),)),
    _r("error_ignored", rf"^{QID} (?P<recipient>\S+): error ignored(?:: (?P<detail>.*))?$", K.OTHER,
       "10HmbA-000000005vi-0000 b@known.ex: error ignored",
       "10HmaX-000000005vi-0000 rmt_reject@test.ex: error ignored: RFC 3461 DSN, failure notify not requested"),
    # ---- ACL rejections (with or without a message id)
    _r("reject_rcpt", rf"^(?:{QID} )?(?P<rcv>(?:\S+=.*? )?)(?P<status>temporarily rejected|rejected) RCPT "
                      r"<?(?P<recipient>\"[^\"]*\"@[^\s>:]*|[^\s<>\":]*)>?(?:: (?P<reply_text>.*))?$", K.REJECT,
       "H=(test.corp) [1.1.1.1] F=<noreply@test.corp> rejected RCPT <error!@dummy.corp>: restricted characters in address",
       "H=([2.181.148.95]) [2.181.148.95]:52391 I=[1.2.3.4]:25 F=fantasizesg4@google.com rejected RCPT some@email.com: rejected found in dnsbl zen.spamhaus.org",
       "U=CALLER F=<> temporarily rejected RCPT <\"deny verify = junk\"@test.ex>: unknown ACL condition/modifier in \"deny vorify = junk\"",
       "U=CALLER F=<x@y> rejected RCPT <a@b>",
       "H=m05.horp.tld [9.12.1.21]:43030 I=[194.169.175.2]:25 Ci=7326 CV=no SNI=mail.leone.tld F=<user@example.tld> rejected RCPT <locus@leone.tld>: relay not permitted"),
    _r("sync_error", r"^SMTP protocol synchronization error \((?P<detail>[^)]*)\): rejected(?P<rcv>.*)$", K.REJECT,
       "SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected",
       "SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[211.148.195.192]:25936 I=[1.2.3.4]:25 input=\"GET / HTTP/1.1\\r\\n\\r\\n\"",
       "SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected \"RSET\" H=ba77.mx83.fr [82.96.160.77]:58302 I=[1.2.3.4]:25 next input=\"QUIT\\r\\n\"",
       set=(("status", "rejected"),)),
    _r("rejected_helo", rf"^(?P<status>rejected) (?P<detail>HELO|EHLO) from (?P<client_spec>{CLIENT}): (?P<reply_text>.*)$", K.REJECT,
       "rejected HELO from CALLER: syntactically invalid argument(s): !@#$%^&*("),
    _r("reject", rf"^(?:{QID} )?(?P<rcv>(?:\S+=.*? )?)(?P<status>temporarily rejected|rejected) "
                 r"(?P<detail>after DATA|by local_scan\(\)|[A-Z]{4}(?: <[^>]*>)?)(?:: (?P<reply_text>.*))?$", K.REJECT,
       "10HmaX-000000005vi-0000 U=CALLER F=<> temporarily rejected after DATA: cannot verify recipient in ACL for DATA",
       "1Unmew-0000ea-SE H=egeftech.static.otenet.gr [83.235.177.148]:32706 I=[1.2.3.4]:25 F=auguriesvbd40@google.com rejected after DATA: This message contains a virus (Sanesecurity.Junk.39934.UNOFFICIAL).",
       "1Ai79e-0000Dq-8i F=uzwltcmwto24@melissacam.biz H=lsanca1-ar3-4-47-028-040.lsanca1.elnk.dsl.genuity.net [4.47.28.40] P=smtp rejected by local_scan(): Rejected: hits=7.5 required=5.0 trigger=5.0"),
    _r("host_reply", rf"^{QID} H={RELAY}(?: [A-Za-z0-9]+=(?:\"[^\"]*\"|\S+))*: (?P<reply_text>.*)$", K.OTHER,
       "10HmaX-000000005vi-0000 H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after pipelined DATA: 403 Sorry temp data error",
       "10HmaX-000000005vi-0000 H=127.0.0.1 [127.0.0.1]: SMTP timeout after EHLO the.local.host.name: Connection timed out"),
    _r("host_error", rf"^{QID} H={RELAY} (?P<detail>.+)$", K.OTHER,
       "1jmFYj-00039V-QX H=null.corp [6.6.6.6] Connection timed out", "10HmaX-000000005vi-0000 H=V4NET.0.0.1 [V4NET.0.0.1] Network Error"),
    _r("too_many_recipients", r"^too many recipients: excess (?P<status>temporarily rejected|rejected): sender=<(?P<sender>[^>]*)>(?P<rcv> .*)?$",
       K.REJECT, "too many recipients: excess temporarily rejected: sender=<x@y> U=CALLER"),
    _r("acl_drop", r"^(?P<rcv>\S+=.*?) (?P<detail>dropped by '[^']*' ACL): (?P<reply_text>.*)$", K.REJECT,
       "H=[192.0.2.101]:62839 dropped by 'connect' ACL: Country is banned"),
    _r("acl_warning", r"^(?P<rcv>\S+=.*?) Warning: (?P<detail>.*)$", K.WARNING,
       "H=(test) [V4NET.11.12.16] U=CALLER Warning: found in rbl2.test.ex"),
    _r("sender_verify_fail", r"^(?P<rcv>\S+=.*?) sender verify fail for <(?P<sender>[^>]*)>: (?P<detail>.*)$", K.OTHER,
       "H=ufficioestampa.it (srv.ufficioestampa.it) [193.169.56.211] sender verify fail for <user@example.com>: Unrouteable address",
       "U=CALLER sender verify fail for <x@y>: Unrouteable address"),
    # ---- SMTP sessions
    _r("connection_closed", rf"^(?:{QID} )?SMTP connection (?:Ci=\S+ )?from (?P<client_spec>{CLIENT})(?P<rcv>{FIELDS}) closed by (?P<detail>.+)$",
       K.DISCONNECT,
       "SMTP connection from mail.example.com [192.168.1.1]:46890 closed by QUIT",
       "SMTP connection Ci=p1239 from (test) [ip4.ip4.ip4.ip4]:10003 I=[ip4.ip4.ip4.ip4]:PORT_D D=qqs closed by QUIT",
       "SMTP connection Ci=p1234 from root D=qqs closed by QUIT",
       "1ahr79-0006jK-G9 SMTP connection from (voyeur.webair.com) [174.137.147.204]:44884 I=[172.89.0.6]:25 closed by DROP in ACL"),
    _r("connection_lost", rf"^SMTP connection from (?P<client_spec>{CLIENT})(?P<rcv>{FIELDS}) (?P<detail>lost(?: .+)?)$", K.DISCONNECT,
       "SMTP connection from the.local.host.name (myhost.test.ex) [ip4.ip4.ip4.ip4] lost while reading message data (header)"),
    _r("connect", rf"^SMTP connection (?:Ci=\S+ )?from (?P<client_spec>{CLIENT})(?P<rcv>(?: (?:I|Ci)=\S+)*)"
                  r"(?: \((?P<detail>TCP/IP connection count = \d+)\))?$", K.CONNECT,
       "SMTP connection from [ip4.ip4.ip4.ip4]:10003 I=[ip4.ip4.ip4.ip4]:PORT_D Ci=p1239 (TCP/IP connection count = 1)",
       "SMTP connection Ci=p1234 from root"),
    _r("no_mail", rf"^(?P<detail>no MAIL) in SMTP connection from (?P<client_spec>{CLIENT})(?P<rcv>{FIELDS})$", K.DISCONNECT,
       "no MAIL in SMTP connection from www3005.sakura.ne.jp [49.212.207.15]:28890 I=[172.89.0.6]:25 D=21s C=EHLO,STARTTLS",
       "no MAIL in SMTP connection from (User) [192.0.2.29]:20042 I=[192.0.2.1]:25 Ci=8001 D=0.349s C=EHLO,AUTH,QUIT"),
    _r("call_dropped", rf"^SMTP call from (?P<client_spec>{CLIENT})(?P<rcv>{FIELDS}) (?P<detail>dropped: .*)$", K.DISCONNECT,
       "SMTP call from pc012-6201.spo.scu.edu.tw [163.14.21.161]:3767 I=[1.2.3.4]:25 dropped: too many nonmail commands (last was \"RSET\")",
       "SMTP call from [192.0.2.109] dropped: too many syntax or protocol errors (last command was \"AUTH LOGIN\")"),
    _r("protocol_error", r"^SMTP (?:protocol|syntax) error in \"(?P<detail>.*)\" (?P<rcv>[HU]=.*)$", K.OTHER,
       "SMTP protocol error in \"AUTH LOGIN\" H=(ylmf-pc) [45.32.34.167]:60723 I=[172.89.0.6]:587 AUTH command used when not advertised",
       "SMTP syntax error in \"debug\" U=CALLER unrecognized command",
       "SMTP protocol error in \"aUtH lOgIn\" H=(test) [8.8.8.8]\" H=(roxzgj) [192.0.2.6] AUTH command used when not advertised"),
    _r("auth_failed", rf"^(?P<detail>\S+) authenticator failed for (?P<client_spec>{CLIENT})(?P<rcv>{FIELDS}): (?P<reply_text>.*)$", K.WARNING,
       "login authenticator failed for rrcs-24-106-174-74.se.biz.rr.com ([192.168.2.33]) [24.106.174.74]: 535 Incorrect authentication data (set_id=brian)",
       "dovecot_login authenticator failed for (User) [194.169.175.1]:21298 I=[22.33.44.55]:465 Ci=30416: 535 Incorrect authentication data (set_id=uaf589@example.com)"),
    _r("no_host_name", r"^(?P<detail>no host name found for IP address) (?P<client_ip>\S+)$", K.OTHER,
       "no host name found for IP address 192.0.2.8"),
    _r("no_ip_address", rf"^(?P<detail>no IP address found for host \S+) \(during SMTP connection from (?P<client_spec>{CLIENT})(?P<rcv>{FIELDS})\)$",
       K.OTHER, "no IP address found for host hos-t.example.tld (during SMTP connection from [63.85.123.6]:49390 I=[31.130.202.17]:25)"),
    _r("etrn", rf"^(?P<detail>ETRN \S+) received from (?P<client_spec>{CLIENT})$", K.OTHER, "ETRN abc received from CALLER"),
    # ---- daemon and queue runner
    _r("queue_run", r"^(?P<detail>(?:Start|End) queue run: pid=\S+.*)$", K.OTHER,
       "Start queue run: pid=p1234 -qf", "End queue run: pid=p1237 -qqff -R userx"),
    _r("daemon", r"^(?P<detail>exim \S+ daemon started: .*)$", K.OTHER,
       "exim x.yz daemon started: pid=p1235, no queue runs, listening for SMTP on port PORT_D"),
    # ---- any other per-message line (DKIM, filter logwrite, SA, event_action …); never a flag line
    # ---- later parts of an entry Exim split for syslog ("[2\3] ", last one "[3/3] "): the first
    # part carries the queue ID and the flag and is parsed as usual
    _r("syslog_part", r"^\[(?:[2-9]|[1-9]\d+)[\\/][1-9]\d*\] (?P<detail>.*)$", K.OTHER,
       "[2/2] mail.example.net [198.51.100.7]: SMTP error from remote mail server after RCPT TO:<rcpt@example.net>: 550 5.1.1 user unknown",
       "[2\\3] Envelope-from: <sender@example.org>", "[3/3] Envelope-to: <rcpt@example.net>"),
    _r("note", rf"^{QID} (?P<detail>[^\s<=>*(\-].*)$", K.OTHER,
       "1jdghf-00034W-No DKIM: signing failed: RSA_LONG_LINE",
       "1VxPit-000MMd-U4 SA: Action: flagged as Spam but accepted: score=8.2 required=5.0 (scanned in 6/6 secs | Message-Id: 008701cf04ed_24497d70_6cdc7850_@xxx.xx). From <spammer@xxx.xx> (host=ip-4.net-3-2-1.rev.xxx.xx [178.123.108.196]) for trap@example.com",
       "1dOyLV-000359-20 SMTP connection outbound 1498361781 1dOyLV-000359-20 domain.com user@externaldomain.com"),
    # ---- panic log: every stamped line
    _r("entry", rf"^(?:{QID} )?(?P<detail>.*)$", K.PANIC, "1jdghf-00034W-No DKIM: signing failed: RSA_LONG_LINE", program="panic"),
    # ---- unstamped lines: reject-log dumps, test-suite separator
    _r("envelope_from", r"^Envelope-from: <(?P<sender>[^>]*)>$", K.OTHER, "Envelope-from: <>", program="continuation"),
    _r("envelope_to", r"^Envelope-to: (?:<(?P<recipient>[^<>]*)>|(?P<detail>.+))$", K.OTHER, "Envelope-to: <data@test.ex>",
       program="continuation"),
    _r("message_id", r"^I Message-[Ii][Dd]: <(?P<message_id>[^<>\s]+)>$", K.OTHER,
       "I Message-Id: <E10HmaX-000000005vi-0000@myhost.test.ex>", program="continuation"),
    _r("dump", r"^(?P<detail>(?:[A-Z*] [!-9;-~]+:|[ \t]).*)$", K.OTHER,
       "P Received: from CALLER (helo=test)", "\tby myhost.test.ex with local-smtp (Exim x.yz)", "  Subject: data1",
       program="continuation"),
    _r("exim.testsuite.separator", r"^(?P<detail>\*{8} SERVER \*{8})$", K.OTHER, "******** SERVER ********",
       program="continuation"),
)

#: What the correlator and eximstats' counting need to know about each rule (rule tags).
ROLES: dict[str, frozenset[str]] = {
    "exim.main.accept_bounce": frozenset({Tag.EXIMSTATS_ACCEPT, Tag.SIZE_ON_ACCEPT}),
    "exim.main.accept": frozenset({Tag.EXIMSTATS_ACCEPT, Tag.SIZE_ON_ACCEPT}),
    "exim.main.deliver": frozenset({Tag.EXIMSTATS_DELIVER, Tag.FINAL_IF_NO_RELAY, Tag.RECIPIENT_LOCAL_PART}),
    "exim.main.fakereject": frozenset({Tag.SIZE_ON_ACCEPT}),
    "exim.main.defer": frozenset({Tag.EXIMSTATS_DEFER, Tag.RECIPIENT_LOCAL_PART}),
    "exim.main.bounce": frozenset({Tag.EXIMSTATS_BOUNCE, Tag.RECIPIENT_LOCAL_PART}),
    "exim.main.completed": frozenset({Tag.EXIMSTATS_COMPLETED}),
    "exim.main.reject_rcpt": frozenset({Tag.EXIMSTATS_REJECT_RCPT, Tag.SESSION_SCOPED}),
    "exim.main.reject": frozenset({Tag.EXIMSTATS_REJECT}),
    "exim.main.call_dropped": frozenset({Tag.EXIMSTATS_CALL_DROPPED}),
    "exim.main.note": frozenset({Tag.EXIMSTATS_NOTE}),
}
RULES = tuple(replace(r, tags=r.tags | ROLES.get(r.id, frozenset())) for r in RULES)
