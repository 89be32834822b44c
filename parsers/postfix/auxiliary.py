"""Postfix rule table: auxiliary daemons: operational messages only.

First match wins within a daemon's table; every rule carries real sample bodies.
"""

from __future__ import annotations

from logtrace.events import EventKind as K
from logtrace.parsing.rules import Rule
from logtrace_parsers.postfix.patterns import catch_all_rule

RULES: tuple[Rule, ...] = (
    Rule("postfix.anvil.statistics", "anvil", r"^statistics: (?P<detail>.*)$", K.OTHER,
         ("statistics: max connection rate 1/60s for (smtpd:61.238.241.86) at Oct 26 18:13:50",)),
    Rule("postfix.scache.statistics", "scache", r"^statistics: (?P<detail>.*)$", K.OTHER,
         ("statistics: domain lookup hits=0 miss=1 success=0%", "statistics: start interval Dec  6 21:20:35")),
    Rule("postfix.dnsblog.listed", "dnsblog", r"^addr (?P<client_ip>\S+) listed by domain (?P<detail>.*)$", K.OTHER,
         ("addr 61.238.241.86 listed by domain psbl.surriel.com as 127.0.0.2",)),
    catch_all_rule("master", "daemon started -- version 2.11.0, configuration /etc/postfix", "terminating on signal 15"),
    catch_all_rule("verify", "cache lmdb:/var/lib/postfix/verify_cache full cleanup: retained=724 dropped=6 entries"),
    catch_all_rule("tlsproxy", "CONNECT from [82.118.17.142]:51637", "DISCONNECT [82.118.17.142]:51637"),
    catch_all_rule("tlsmgr", "prng_exch: /var/lib/postfix/prng_exch"),
    catch_all_rule("trivial-rewrite", "dict_eval: const  empty"),
    catch_all_rule("postfix-script", "starting the Postfix mail system"),
    catch_all_rule("postmap", "open database /etc/postfix/virtual.db"),
    catch_all_rule("postalias", "open database /etc/aliases.db"),
    catch_all_rule("postdrop", "uid=0: File too large"),
    catch_all_rule("sendmail", "uid=0: File too large"),
    catch_all_rule("postqueue", "Mail system is down -- accessing queue directly"),
    catch_all_rule("postlogd", "logfile rotated"),
    catch_all_rule("postmulti", "starting instance postfix-out"),
    catch_all_rule("proxymap", "proxy_read_maps: table not approved"),
    catch_all_rule("flush", "flush_add: example.com"),
    catch_all_rule("showq", "showq: cannot open queue"),
    catch_all_rule("spawn", "command /usr/bin/policyd exit status 1"),
)
