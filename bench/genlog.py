#!/usr/bin/env python3
"""Deterministic, seeded, fast generator of realistic interleaved mail logs.

Postfix 3.x mode (default) writes one syslog file with several hosts
(mx1 = inbound MX with an amavis content filter, mx2 = mailstore with
``enable_long_queue_ids``, relay1 = outbound relay), concurrent SMTP sessions,
NOQUEUE rejects, content-filter re-injection, cross-host relays, local
delivery and forwarding, deferrals with retries, expiries, bounces with
their non-delivery notifications, queue-id reuse and non-postfix noise.

``--truth FILE.jsonl`` writes one JSON object per message (see
docs/benchmarks.md, "Truth file").  Only what is actually in the log file
counts: a message whose final line falls after the last written line keeps
verdict ``deferred``.

``--mta exim`` writes an Exim 4 mainlog instead.

Usage:
    python bench/genlog.py --lines 1000000 --seed 1 --out /tmp/mail.log \
        --truth /tmp/mail.truth.jsonl
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import random
import shutil
import subprocess
import sys
import time

SAFE = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"  # postfix safe_ultostr
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

FIRST = ("james mary john patricia robert jennifer michael linda william elizabeth david barbara "
         "richard susan joseph jessica thomas sarah charles karen chris nancy daniel lisa matthew "
         "betty anthony margaret mark sandra donald ashley steven kim paul emily andrew donna joshua "
         "michelle ken carol kevin amanda brian melissa george deborah tim stephanie ron rebecca "
         "ed sharon jason laura jeff cynthia ryan kathleen jacob amy gary angela nick shirley eric "
         "anna jonathan brenda stephen pamela larry emma justin nicole scott helen brandon samantha "
         "ben katherine sam christine greg debra frank rachel alex carolyn ray janet pat maria jack "
         "heather dennis diane jerry ruth tyler julie aaron olivia jose joyce adam virginia henry "
         "victoria nathan kelly doug lauren zach christina peter joan kyle evelyn ethan judith walter "
         "megan noah andrea jeremy cheryl hannah christian jacqueline keith martha roger gloria terry").split()
LAST = ("smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
        "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris "
        "sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill "
        "flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips "
        "evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook rogers "
        "gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox ward richardson "
        "watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo "
        "sanders patel myers long ross foster jimenez powell jenkins perry russell sullivan bell "
        "coleman butler henderson barnes gonzales fisher vasquez simmons romero jordan patterson").split()
WORDS = ("acme globex initech umbrella hooli stark wayne wonka cyberdyne tyrell soylent massive "
         "vandelay pied piper aperture black mesa gringotts oceanic dunder mifflin sterling cooper "
         "north wind contoso fabrikam adatum tailspin litware proseware fourth coffee alpine ski "
         "blue yonder margie travel wide world importers lucerne publishing trey research bellows "
         "nimbus cirrus stratus granite quartz falcon osprey harbor summit meadow prairie canyon "
         "river delta sigma orbit vertex pixel quantum lumen nova vector kinetic apex zenith").split()
TLDS = ["com", "com", "com", "net", "org", "de", "co.uk", "io", "fr", "nl", "it", "es", "ch", "se"]

LOCAL_DOMAINS = ["example.com", "example.com", "example.com", "example.org"]


def b52(n: int, pad: int, base: int = 52) -> str:
    s = []
    while n:
        n, r = divmod(n, base)
        s.append(SAFE[r])
    s = "".join(reversed(s)) or "0"
    return s.rjust(pad, "0")


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(n: int, pad: int) -> str:
    s = []
    while n:
        n, r = divmod(n, 62)
        s.append(B62[r])
    return "".join(reversed(s)).rjust(pad, "0")


def build_delay_table():
    t = []
    for i in range(1000):
        x = i / 100.0
        if i < 100:
            s = f"{x:.2f}".rstrip("0").rstrip(".")
        else:
            s = f"{x:.1f}"
            if s.endswith(".0"):
                s = s[:-2]
        t.append(s or "0")
    return t


DT = build_delay_table()


def fd(x: float) -> str:
    """Postfix-style delay formatting (0.06, 0.1, 1.2, 20, 3600)."""
    if x < 10:
        return DT[int(x * 100)]
    return str(int(x))


class Msg:
    __slots__ = ("kind", "qid", "host", "sender", "msgid", "rcpts", "verdict", "vhost", "vqid",
                 "chain", "ndr", "parent", "first", "last", "nl", "pending", "t0", "done", "orig", "cip")

    def __init__(self, kind, host, sender, rcpts, msgid, t0):
        self.kind = kind
        self.qid = None
        self.host = host
        self.sender = sender
        self.rcpts = rcpts
        self.orig = list(rcpts)
        self.cip = None
        self.verdict = ["deferred"] * len(rcpts)
        self.vhost = [None] * len(rcpts)
        self.vqid = [None] * len(rcpts)
        self.chain = []
        self.ndr = None
        self.parent = None
        self.msgid = msgid
        self.first = 0
        self.last = 0
        self.nl = 0
        self.pending = 0
        self.t0 = t0
        self.done = False


class Host:
    def __init__(self, g, name, role, idx, st, long_ids, lifetime):
        R = g.R
        self.name = name
        self.role = role
        self.fqdn = f"{name}.example.com"
        self.ip = f"10.0.0.{11 + idx}"
        self.pub = f"198.51.100.{25 + idx}"
        self.st = st
        self.long_ids = long_ids
        self.lifetime = lifetime
        self.busy = {}          # qid -> time it is free again
        self.removed = []       # recently removed ids (reuse pool)
        base = R.randrange(1000, 30000)

        def pool(daemon, n, spread=3000):
            return [f"{name} postfix/{daemon}[{base + R.randrange(spread)}]: " for _ in range(n)]
        self.smtpd = pool("smtpd", 16)
        self.smtpd_busy = [0.0] * len(self.smtpd)
        self.pid_base = base
        self.g = g
        self.smtp = pool("smtp", 10)
        self.cleanup = pool("cleanup", 4)
        self.local = pool("local", 4)
        self.lmtp = pool("lmtp", 4)
        self.bounce = pool("bounce", 2)
        self.pickup = pool("pickup", 1)
        self.qmgr = pool("qmgr", 1)
        self.anvil = pool("anvil", 1)
        self.amavis_pid = base + R.randrange(3000, 4000)
        self.opendkim = f"{name} opendkim[{base - R.randrange(100, 900)}]: "
        self.postgrey = f"{name} postgrey[{base - R.randrange(900, 999)}]: "
        self.spf = [f"{name} policyd-spf[{base + R.randrange(3000)}]: " for _ in range(4)]
        self.dovecot = f"{name} dovecot: "
        self.amavis_seq = 0


class PostfixGen:
    def __init__(self, a):
        self.a = a
        self.R = R = random.Random(a.seed)
        self.rnd = R.random
        self.rr = fast_rr(R.random)
        self.buckets = {}
        self.E = self._make_E()
        self._b52s = (-1, "")
        self.written = 0
        self.limit = a.lines
        self.out = None
        self.live = set() if a.truth else _NullSet()
        self.truth_f = None
        self.start = int(a.start_epoch)
        self.sec_cache_day = None
        nh = max(1, a.hosts)
        roles = ["mx", "store", "relay"]
        names = {"mx": "mx", "store": "mx", "relay": "relay"}
        counters = {"mx": 0, "relay": 0}
        hosts = []
        for i in range(nh):
            role = roles[i % 3]
            k = names[role]
            counters[k] += 1
            name = f"{k}{counters[k]}"
            if a.stamp == "rfc3339":
                st = 1
            elif a.stamp == "mixed":
                st = i % 2
            else:
                st = 0
            long_ids = (a.long_ids == "auto" and role == "store" and i == 1) or a.long_ids == name
            lifetime = 4 * 3600 if role == "relay" else 86400
            if nh == 1:
                lifetime = 4 * 3600
            hosts.append(Host(self, name, role, i, st, long_ids, lifetime))
        self.hosts = hosts
        self.mxs = [h for h in hosts if h.role == "mx"]
        self.stores = [h for h in hosts if h.role == "store"]
        self.relays = [h for h in hosts if h.role == "relay"]
        self.hostnames = {h.name for h in hosts}
        self._pools()

    # ------------------------------------------------------------------ pools
    def _pools(self):
        R = self.R
        rr = self.rr
        self.users = []
        for i in range(3000):
            f, l = R.choice(FIRST), R.choice(LAST)
            u = R.choice([f"{f}.{l}", f"{f[0]}{l}", f"{f}", f"{f}.{l}{rr(2, 99)}", f"{l}.{f}"])
            self.users.append((u, R.choice(LOCAL_DOMAINS)))
        self.aliases = [R.choice(["info", "sales", "support", "billing", "hr", "jobs", "noc", "abuse",
                                  "postmaster", "office", "team", "press"]) for _ in range(50)]

        def pubip():
            while True:
                a = rr(1, 224)
                if a not in (10, 127, 169, 172, 192, 198, 203, 100, 0):
                    return f"{a}.{rr(256)}.{rr(256)}.{rr(1, 255)}"
        self.pubip = pubip
        # external domains with MX hosts and kinds
        kinds = ["postfix"] * 30 + ["exim"] * 20 + ["exchange"] * 15 + ["generic"] * 10
        doms = []
        big = [("gmail.com", "gmail-smtp-in.l.google.com", "gmail", "142.250.{}.{}"),
               ("googlemail.com", "gmail-smtp-in.l.google.com", "gmail", "142.251.{}.{}"),
               ("outlook.com", "outlook-com.olc.protection.outlook.com", "outlook", "52.101.{}.{}"),
               ("hotmail.com", "hotmail-com.olc.protection.outlook.com", "outlook", "52.101.{}.{}"),
               ("yahoo.com", "mta7.am0.yahoodns.net", "yahoo", "67.195.{}.{}"),
               ("gmx.de", "mx00.emig.gmx.net", "generic", "212.227.{}.{}"),
               ("web.de", "mx-ha03.web.de", "generic", "212.227.{}.{}")]
        for d, mx, k, ipf in big:
            for _ in range(6):
                doms.append((d, mx, k, ipf.format(rr(256), rr(1, 255))))
        for i in range(400):
            d = f"{R.choice(WORDS)}{R.choice(['', '-', ''])}{R.choice(WORDS)}.{R.choice(TLDS)}"
            k = R.choice(kinds)
            mx = R.choice([f"mx.{d}", f"mail.{d}", f"mx1.{d}", f"smtp.{d}",
                           f"{d.split('.')[0]}-{d.split('.')[-1]}.mail.protection.outlook.com"])
            if mx.endswith("outlook.com"):
                k = "outlook"
            doms.append((d, mx, k, pubip()))
        self.ext_domains = doms
        self.dommap = {}
        for d in doms:
            self.dommap.setdefault(d[0], []).append(d)
        self.ext_addrs = []
        for i in range(6000):
            d = R.choice(doms)
            f, l = R.choice(FIRST), R.choice(LAST)
            lp = R.choice([f"{f}.{l}", f"{f}{l}{rr(1, 999)}", f"{f[0]}.{l}", f"{f}_{l}",
                           R.choice(["newsletter", "noreply", "no-reply", "bounce-" + str(rr(10**5, 10**6)),
                                     "info", "orders", "notifications"])])
            self.ext_addrs.append((f"{lp}@{d[0]}", d))
        # inbound clients
        self.clients = []
        for i in range(2500):
            ip = pubip()
            r = self.rnd()
            if r < 0.25:
                name = "unknown"
            elif r < 0.5:
                name = f"mail-{R.choice(['ed1', 'ej1', 'wm1', 'qk1', 'pf1'])}-f{rr(100, 255)}.google.com"
            elif r < 0.6:
                name = f"mail-{R.choice(['am6', 'db8', 'vi1'])}eur0{rr(1, 6)}on20{rr(600, 799)}.outbound.protection.outlook.com"
            else:
                d = R.choice(doms)[0]
                name = R.choice([f"mail.{d}", f"mx.{d}", f"smtp{rr(1, 9)}.{d}", f"out.{d}", f"o{rr(1, 99)}.mail.{d}"])
            helo = name if name != "unknown" else R.choice(["[" + ip + "]", "localhost", "User", f"{R.choice(WORDS)}.local", ip])
            self.clients.append((f"{name}[{ip}]", helo, ip))
        self.internal_clients = [(f"ws-{i:03d}.corp.example.com[10.1.{i // 200}.{i % 200 + 20}]",
                                  f"ws-{i:03d}.corp.example.com") for i in range(300)]
        self.apps = ["www-data", "nagios", "app", "jenkins", "backup", "root", "wordpress", "odoo"]
        self.subjects = None

    # ------------------------------------------------------------ primitives
    def _make_E(self):
        buckets = self.buckets
        bget = buckets.get

        def E(t, st, text, m=None, act=None):
            s = int(t)
            b = bget(s)
            if b is None:
                b = buckets[s] = []
            b.append((t, st, text, m, act))
            if m is not None:
                m.pending += 1

        def E_notruth(t, st, text, m=None, act=None):
            s = int(t)
            b = bget(s)
            if b is None:
                b = buckets[s] = []
            b.append((t, st, text, None, None))
        return E if self.a.truth else E_notruth

    def qid(self, h: Host, t: float) -> str:
        busy = h.busy
        rnd = self.rnd
        if h.removed and rnd() < 0.03:
            # queue id reuse: an id removed a while ago comes back for a new message
            i = self.rr(len(h.removed))
            q, tr = h.removed[i]
            if tr < t - 30 and busy.get(q, 0) < t:
                h.removed[i] = h.removed[-1]
                h.removed.pop()
                return q
        while True:
            us = int((t % 1) * 1000000)
            if h.long_ids:
                sec = int(t)
                if self._b52s[0] != sec:
                    self._b52s = (sec, b52(sec, 6))
                q = f"{self._b52s[1]}{b52(us, 4)}z{b52(self.rr(60000, 9000000), 0, 51)}"
            else:
                q = f"{us:05X}{self.rr(0x20000, 0x400000):X}"
            if busy.get(q, 0) < t:
                return q
            t += 0.000001

    def hold(self, h: Host, q: str, t_removed: float):
        h.busy[q] = t_removed
        if self.rnd() < 0.05:
            rem = h.removed
            if len(rem) < 200:
                rem.append((q, t_removed))
            else:
                rem[self.rr(200)] = (q, t_removed)

    def mid(self, t, dom):
        r = self.rnd()
        g = self.R.getrandbits
        if r < 0.35:
            return f"CA{g(120):030x}@mail.gmail.com"
        if r < 0.5:
            return f"{g(64):016x}.{g(32):08x}@{dom}"
        if r < 0.7:
            return f"{g(32):08x}-{g(16):04x}-{g(16):04x}-{g(16):04x}-{g(48):012x}@{dom}"
        tm = time.gmtime(int(t))
        return f"{tm.tm_year}{tm.tm_mon:02d}{tm.tm_mday:02d}{tm.tm_hour:02d}{tm.tm_min:02d}{tm.tm_sec:02d}.{g(40):010X}@{dom}"

    def local_user(self):
        u, d = self.users[self.rr(len(self.users))]
        return f"{u}@{d}"

    def ext(self):
        return self.ext_addrs[self.rr(len(self.ext_addrs))]

    # -------------------------------------------------------------- helpers
    def reply_sent(self, kind, mid, t):
        rr = self.rr
        if kind == "postfix":
            # a queue id on a host that is NOT in this file
            if self.rnd() < 0.5:
                q = f"{b52(int(t) + 1, 6)}{b52(rr(10**6), 4)}z{b52(rr(60000, 9000000), 0, 51)}"
            else:
                q = f"{rr(10**6):05X}{rr(0x20000, 0x400000):X}"
            return f"250 2.0.0 Ok: queued as {q}"
        if kind == "exim":
            return f"250 OK id={b62(int(t) - rr(0, 5), 6)}-{b62(rr(1000, 4000000), 6)}-{b62(rr(62 ** 2), 2)}"
        if kind == "exchange":
            return (f"250 2.6.0 <{mid}> [InternalId={rr(10**10, 10**13)}, Hostname=EX{rr(1, 4):02d}."
                    f"{self.R.choice(WORDS)}.local] Queued mail for delivery")
        if kind == "outlook":
            return (f"250 2.6.0 <{mid}> [InternalId={rr(10**10, 10**13)}, Hostname="
                    f"{self.R.choice(['AM0', 'DB9', 'VI1', 'PA4', 'DU2'])}PR0{rr(1, 9)}MB{rr(1000, 9999)}."
                    f"eurprd0{rr(1, 9)}.prod.outlook.com] {rr(2000, 90000)} bytes in 0.{rr(100, 999)}, "
                    f"{rr(10, 900)}.{rr(100, 999)} KB/sec Queued mail for delivery")
        if kind == "gmail":
            return (f"250 2.0.0 OK  {int(t)} {self.R.getrandbits(40):010x}si{rr(100, 999)}.{rr(100, 999)}"
                    f" - gsmtp")
        if kind == "yahoo":
            return "250 ok dirdel"
        return f"250 2.0.0 Ok: queued as <{self.R.getrandbits(48):012x}>"

    def defer_reason(self, mxn, ip):
        r = self.rnd()
        if r < 0.35:
            return f"connect to {mxn}[{ip}]:25: Connection timed out", "4.4.1", 30.0
        if r < 0.55:
            return (f"host {mxn}[{ip}] said: 451 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/"
                    f"{mxn.split('.', 1)[-1]}.html (in reply to RCPT TO command)"), "4.7.1", 0.4
        if r < 0.7:
            return f"connect to {mxn}[{ip}]:25: Connection refused", "4.4.1", 0.05
        if r < 0.85:
            return (f"host {mxn}[{ip}] said: 421 4.7.0 Try again later, closing connection. "
                    f"(in reply to MAIL FROM command)"), "4.7.0", 0.3
        return (f"host {mxn}[{ip}] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)",
                "4.2.2", 0.4)

    def bounce_reason(self, kind, mxn, ip, r):
        if kind == "gmail":
            return (f"host {mxn}[{ip}] said: 550-5.1.1 The email account that you tried to reach does not "
                    f"exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or "
                    f"550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  "
                    f"https://support.google.com/mail/?p=NoSuchUser {self.R.getrandbits(40):010x}si"
                    f"{self.rr(100, 999)} - gsmtp (in reply to RCPT TO command)"), "5.1.1"
        x = self.rnd()
        if x < 0.6:
            return (f"host {mxn}[{ip}] said: 550 5.1.1 <{r}>: Recipient address rejected: User unknown "
                    f"(in reply to RCPT TO command)"), "5.1.1"
        if x < 0.8:
            return (f"host {mxn}[{ip}] said: 552 5.2.2 <{r}>: Mailbox quota exceeded "
                    f"(in reply to end of DATA command)"), "5.2.2"
        return (f"host {mxn}[{ip}] said: 554 5.7.1 Message rejected as spam by Content Filtering "
                f"(in reply to end of DATA command)"), "5.7.1"

    # ------------------------------------------------------------ sessions
    def receive(self, h: Host, t, client, helo, sender, nrcpt, size, mid, m, *, sasl=None,
                tls=True, via_pickup=None, link=None, vfirst=True):
        """Accept one message on host h.  Returns (qid, t_queue_active)."""
        E, rnd, st = self.E, self.rnd, h.st
        if via_pickup is not None:
            q = self.qid(h, t)
            E(t, st, f"{h.pickup[0]}{q}: uid={via_pickup[0]} from=<{via_pickup[1]}>", m,
              ("c", h.name, q, link) if link else None)
            t += 0.01 + rnd() * 0.05
            E(t, st, f"{h.cleanup[self.rr(4)]}{q}: message-id=<{mid}>", m)
            t += 0.005 + rnd() * 0.02
            E(t, st, f"{h.qmgr[0]}{q}: from=<{sender}>, size={size}, nrcpt={nrcpt} (queue active)", m)
            return q, t, None
        si, sp = self.smtpd(h, t)
        E(t, st, f"{sp}connect from {client}")
        t += 0.05 + rnd() * 0.3
        cmds = f"ehlo=1 mail=1 rcpt={nrcpt} data=1 quit=1 commands={nrcpt + 4}"
        if tls:
            E(t, st, f"{sp}Anonymous TLS connection established from {client}: TLSv1.3 with cipher "
                     f"TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature "
                     f"RSA-PSS (2048 bits) server-digest SHA256")
            cmds = f"ehlo=2 starttls=1 mail=1 rcpt={nrcpt} data=1 quit=1 commands={nrcpt + 6}"
            t += 0.05 + rnd() * 0.2
        if sasl:
            cmds = f"ehlo=2 starttls=1 auth=1 mail=1 rcpt={nrcpt} data=1 quit=1 commands={nrcpt + 7}"
        q = self.qid(h, t)
        extra = f", sasl_method=PLAIN, sasl_username={sasl}" if sasl else ""
        E(t, st, f"{sp}{q}: client={client}{extra}", m, ("c", h.name, q, link) if link else None)
        t += 0.1 + rnd() * 0.8
        E(t, st, f"{h.cleanup[self.rr(4)]}{q}: message-id=<{mid}>", m)
        t += 0.002 + rnd() * 0.01
        if client.startswith("localhost"):
            pass
        elif sasl:
            if rnd() < 0.8:
                E(t, st, f"{h.opendkim}{q}: DKIM-Signature field added (s=mail2026, d=example.com)", m)
        elif rnd() < 0.4:
            E(t, st, f"{h.opendkim}{q}: {client.replace('[', ' [')} not internal", m)
            t += 0.001
            if rnd() < 0.7:
                E(t, st, f"{h.opendkim}{q}: DKIM verification successful", m)
        t += 0.005 + rnd() * 0.05
        E(t, st, f"{h.qmgr[0]}{q}: from=<{sender}>, size={size}, nrcpt={nrcpt} (queue active)", m)
        tdis = t + 0.02 + rnd() * 0.2
        return q, t, (si, sp, client, cmds, tdis)

    def smtpd(self, h, t, dur=10.0):
        """An smtpd process that is idle at time t (one session per process at a time)."""
        busy = h.smtpd_busy
        n = len(busy)
        for _ in range(4):
            i = self.rr(n)
            if busy[i] < t:
                busy[i] = t + dur
                return i, h.smtpd[i]
        for i in range(n):
            if busy[i] < t:
                busy[i] = t + dur
                return i, h.smtpd[i]
        h.smtpd.append(f"{h.name} postfix/smtpd[{h.pid_base + self.rr(3000, 9000)}]: ")
        busy.append(t + dur)
        return n, h.smtpd[n]

    def disconnect(self, h, sess, t_min=0.0):
        if sess is None:
            return
        si, sp, client, cmds, tdis = sess
        te = max(tdis, t_min)
        h.smtpd_busy[si] = te + 0.01
        self.E(te, h.st, f"{sp}disconnect from {client} {cmds}")

    def delays(self, a, b, c, d):
        return f"delay={fd(a + b + c + d)}, delays={fd(a)}/{fd(b)}/{fd(c)}/{fd(d)}"

    # ---- delivery of one queue file on host h; recipients = list of indices into m.rcpts
    def deliver(self, h: Host, q, t, m, idx, t_arr, chain_depth=0):
        """Plan delivery of queue file q (queue active at t) for recipients idx. Returns t of removal."""
        rnd = self.rnd
        if h.role == "mx" and h.name != "relay" and chain_depth == 0 and m.kind in ("in",):
            return self.filter(h, q, t, m, idx, t_arr)
        tl = t
        groups = {}
        for i in idx:
            r = m.rcpts[i]
            dom = r.rsplit("@", 1)[1]
            if dom in ("example.com", "example.org") or dom.endswith(".example.com"):
                key = "local"
            else:
                key = dom
            groups.setdefault(key, []).append(i)
        ndr_rc = []
        pending_retry = []
        for key, ii in groups.items():
            if key == "local":
                tl = max(tl, self.deliver_local(h, q, t, m, ii, t_arr, chain_depth, ndr_rc))
            else:
                tt, bad, retry = self.deliver_remote(h, q, t, m, ii, t_arr, key)
                tl = max(tl, tt)
                ndr_rc += bad
                pending_retry += retry
        if pending_retry:
            tl = self.retries(h, q, tl, m, pending_retry, t_arr, ndr_rc, len(idx))
        tl += 0.001 + rnd() * 0.01
        if ndr_rc:
            tl = self.make_ndr(h, q, tl, m, ndr_rc)
        self.E(tl, h.st, f"{h.qmgr[0]}{q}: removed", m)
        self.hold(h, q, tl)
        return tl

    def filter(self, h, q, t, m, idx, t_arr):
        """amavis content filter on 127.0.0.1:10024, re-injected on 10025 as a new queue id."""
        rnd, E, st = self.rnd, self.E, h.st
        proc = 0.3 + rnd() * 3.0
        t1 = t + proc
        size2 = m_size = 0
        nr = len(idx)
        q2, ta, sess = self.receive(h, t1, "localhost[127.0.0.1]", "localhost", m.sender, nr,
                                    self.rr(3000, 90000), m.msgid, m, tls=False,
                                    link=(q, "content_filter"))
        self.disconnect(h, sess)
        tq = ta + 0.05 + rnd() * 0.1
        seq = h.amavis_seq = h.amavis_seq + 1
        ms = int(proc * 1000)
        rl = ",".join(f"<{m.rcpts[i]}>" for i in idx)
        hits = f"{rnd() * 6 - 2:.3f}"
        E(tq, st, f"{h.name} amavis[{h.amavis_pid}]: ({h.amavis_pid}-{seq % 100:02d}) Passed CLEAN "
                  f"{{RelayedInbound}}, [{m.cip}]:"
                  f"{self.rr(30000, 65000)} <{m.sender}> -> {rl}, Queue-ID: {q}, Message-ID: <{m.msgid}>, "
                  f"mail_id: {self.R.getrandbits(60):015x}, Hits: {hits}, size: {self.rr(2000, 80000)}, "
                  f"queued_as: {q2}, {ms} ms", m)
        sp = h.smtp[self.rr(len(h.smtp))]
        for i in idx:
            tq += 0.001
            E(tq, st, f"{sp}{q}: to=<{m.rcpts[i]}>, relay=127.0.0.1[127.0.0.1]:10024, "
                      f"{self.delays(t - t_arr, 0.01, 0.01, proc)}, dsn=2.0.0, status=sent "
                      f"(250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as {q2})", m)
        tr = tq + 0.001 + rnd() * 0.005
        E(tr, st, f"{h.qmgr[0]}{q}: removed", m)
        self.hold(h, q, tr)
        return self.deliver(h, q2, ta, m, idx, ta, chain_depth=1)

    def deliver_local(self, h, q, t, m, ii, t_arr, depth, ndr_rc):
        rnd, E, st = self.rnd, self.E, h.st
        stores = self.stores
        if h.role != "store" and stores and rnd() < 0.97:
            # relay to the mailstore in this file; its log continues under the next queue id
            s = stores[0]
            tt = t + 0.05 + rnd() * 0.2
            client = f"{h.fqdn}[{h.ip}]"
            q2, ta, sess = self.receive(s, tt, client, h.fqdn, m.sender, len(ii), self.rr(3000, 90000),
                                        m.msgid, m, tls=True, link=(q, "relay"))
            tq = ta + 0.01 + rnd() * 0.05
            sp = h.smtp[self.rr(len(h.smtp))]
            for i in ii:
                tq += 0.001
                E(tq, st, f"{sp}{q}: to=<{m.rcpts[i]}>, relay={s.fqdn}[{s.ip}]:25, "
                          f"{self.delays(t - t_arr, 0.01, 0.02, tq - t)}, dsn=2.0.0, status=sent "
                          f"(250 2.0.0 Ok: queued as {q2})", m)
            self.disconnect(s, sess, tq + 0.01)
            self.deliver(s, q2, ta, m, ii, ta, depth + 1)
            return tq
        if h.role != "store" and rnd() < 0.5 and not stores:
            pass
        tl = t
        for i in ii:
            r = m.rcpts[i]
            tl += 0.01 + rnd() * 0.2
            x = rnd()
            lu = r.split("@")[0]
            if x < 0.04 and depth < 3:
                # alias forwarding to an external address: forwarded as NEWQID
                f = self.qid(h, tl)
                fwd, d = self.ext()
                E(tl, st, f"{h.cleanup[self.rr(4)]}{f}: message-id=<{m.msgid}>", m, ("c", h.name, f, (q, "forward")))
                tl += 0.002
                E(tl, st, f"{h.local[self.rr(4)]}{q}: to=<{r}>, orig_to=<{self.aliases[i % 50]}@example.com>, "
                          f"relay=local, {self.delays(t - t_arr, 0.01, 0, tl - t)}, dsn=2.0.0, "
                          f"status=sent (forwarded as {f})", m)
                tf = tl + 0.01 + rnd() * 0.02
                E(tf, st, f"{h.qmgr[0]}{f}: from=<{m.sender}>, size={self.rr(3000, 90000)}, nrcpt=1 (queue active)", m)
                m.rcpts[i] = fwd
                self.deliver_out(h, f, tf, m, [i], tf, depth + 1)
            elif x < 0.055:
                E(tl, st, f"{h.local[self.rr(4)]}{q}: to=<{r}>, relay=local, "
                          f"{self.delays(t - t_arr, 0.01, 0, tl - t)}, dsn=5.2.2, status=bounced (cannot "
                          f"update mailbox /var/mail/{lu} for user {lu}. error writing message: File too large)",
                  m, ("v", i, "bounced", h.name, q))
                ndr_rc.append(i)
            elif x < 0.35 and h.role == "store":
                E(tl, st, f"{h.lmtp[self.rr(4)]}{q}: to=<{r}>, relay={h.fqdn}[private/dovecot-lmtp], "
                          f"{self.delays(t - t_arr, 0.01, 0.01, tl - t)}, dsn=2.0.0, status=sent "
                          f"(250 2.0.0 <{r}> {self.R.getrandbits(64):016x}{self.rr(10000, 99999)} Saved)",
                  m, ("v", i, "delivered", h.name, q))
                E(tl + 0.001, st, f"{h.dovecot}lmtp({r})<{self.rr(2000, 60000)}><{self.R.getrandbits(80):020x}>: "
                                  f"msgid=<{m.msgid}>: saved mail to INBOX")
            else:
                ot = f", orig_to=<{lu}>" if (m.kind == "cron") else ""
                E(tl, st, f"{h.local[self.rr(4)]}{q}: to=<{r}>{ot}, relay=local, "
                          f"{self.delays(t - t_arr, 0.01, 0, tl - t)}, dsn=2.0.0, status=sent (delivered to mailbox)",
                  m, ("v", i, "delivered", h.name, q))
        return tl

    def deliver_out(self, h, q, t, m, ii, t_arr, depth):
        """Send queue file q from host h to the outside, via the relay host when there is one."""
        relays = self.relays
        if relays and h.role != "relay":
            rh = relays[0]
            rnd = self.rnd
            tt = t + 0.02 + rnd() * 0.2
            q2, ta, sess = self.receive(rh, tt, f"{h.fqdn}[{h.ip}]", h.fqdn, m.sender, len(ii),
                                        self.rr(3000, 90000), m.msgid, m, link=(q, "relay"))
            tq = ta + 0.01
            sp = h.smtp[self.rr(len(h.smtp))]
            for i in ii:
                tq += 0.001
                self.E(tq, h.st, f"{sp}{q}: to=<{m.rcpts[i]}>, relay={rh.fqdn}[{rh.ip}]:25, "
                                 f"{self.delays(t - t_arr, 0.01, 0.02, tq - t)}, dsn=2.0.0, status=sent "
                                 f"(250 2.0.0 Ok: queued as {q2})", m)
            self.disconnect(rh, sess, tq + 0.01)
            tr = tq + 0.002
            self.E(tr, h.st, f"{h.qmgr[0]}{q}: removed", m)
            self.hold(h, q, tr)
            self.deliver(rh, q2, ta, m, ii, ta, depth + 1)
            return tr
        return self.deliver(h, q, t, m, ii, t_arr, depth + 1)

    def deliver_remote(self, h, q, t, m, ii, t_arr, dom):
        """One SMTP transaction to an external domain. Returns (t_end, bounced_idx, deferred_idx)."""
        rnd, E, st = self.rnd, self.E, h.st
        ds = self.dommap.get(dom)
        d = ds[self.rr(len(ds))] if ds else None
        if d is None:
            d = (dom, f"mx.{dom}", "postfix", "203.0.113.9")
        _, mxn, kind, ip = d
        sp = h.smtp[self.rr(len(h.smtp))]
        x = rnd()
        tt = t + 0.1 + rnd() * 1.5
        if m.kind == "ndr":
            x = x * 0.97 + 0.03 * (x < 0.7)  # NDRs: fewer deferrals, some bounce
        if x < self.p_defer:
            reason, dsn, took = self.defer_reason(mxn, ip)
            tt += took
            relay = "none" if "connect to" in reason else f"{mxn}[{ip}]:25"
            for i in ii:
                E(tt, st, f"{sp}{q}: to=<{m.rcpts[i]}>, relay={relay}, {self.delays(t - t_arr, 0.01, took, 0)}, "
                          f"dsn={dsn}, status=deferred ({reason})", m, ("v", i, "deferred", h.name, q))
                tt += 0.001
            return tt, [], [(i, d) for i in ii]
        if rnd() < 0.3:
            E(tt - 0.05, st, f"{sp}Trusted TLS connection established to {mxn}[{ip}]:25: TLSv1.3 with cipher "
                             f"TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature "
                             f"RSA-PSS (2048 bits) server-digest SHA256")
        if x < self.p_defer + self.p_bounce:
            bad = []
            for i in ii:
                reason, dsn = self.bounce_reason(kind, mxn, ip, m.rcpts[i])
                E(tt, st, f"{sp}{q}: to=<{m.rcpts[i]}>, relay={mxn}[{ip}]:25, "
                          f"{self.delays(t - t_arr, 0.01, 0.1, tt - t)}, dsn={dsn}, status=bounced ({reason})",
                  m, ("v", i, "bounced", h.name, q))
                bad.append(i)
                tt += 0.001
            return tt, bad, []
        rep = self.reply_sent(kind, m.msgid, tt)
        for i in ii:
            E(tt, st, f"{sp}{q}: to=<{m.rcpts[i]}>, relay={mxn}[{ip}]:25, "
                      f"{self.delays(t - t_arr, 0.01, 0.1, tt - t)}, dsn=2.0.0, status=sent ({rep})",
              m, ("v", i, "relayed", h.name, q))
            tt += 0.001
        return tt, [], []

    def retries(self, h, q, t, m, pend, t_arr, ndr_rc, nrcpt):
        """qmgr retries with exponential backoff; then sent, bounced or expired."""
        rnd, E, st = self.rnd, self.E, h.st
        size = self.rr(3000, 90000)
        backoff = 300 + rnd() * 700
        will_expire = rnd() < self.p_expire_given_defer
        nsucc = 1 + int(rnd() * 4)
        tries = 0
        while pend:
            t += backoff
            backoff = min(backoff * 2, 4000)
            tries += 1
            if t - t_arr > h.lifetime:
                E(t, st, f"{h.qmgr[0]}{q}: from=<{m.sender}>, status=expired, returned to sender", m,
                  [("v", i, "expired", h.name, q) for i, _ in pend])
                for i, _ in pend:
                    ndr_rc.append(i)
                return t + 0.01
            E(t, st, f"{h.qmgr[0]}{q}: from=<{m.sender}>, size={size}, nrcpt={nrcpt} (queue active)", m)
            t2 = t + 0.1 + rnd() * 2
            sp = h.smtp[self.rr(len(h.smtp))]
            still = []
            for i, d in pend:
                _, mxn, kind, ip = d
                if not will_expire and tries >= nsucc:
                    rep = self.reply_sent(kind, m.msgid, t2)
                    E(t2, st, f"{sp}{q}: to=<{m.rcpts[i]}>, relay={mxn}[{ip}]:25, "
                              f"{self.delays(t2 - t_arr - 1, 0.01, 0.1, 0.9)}, dsn=2.0.0, status=sent ({rep})",
                      m, ("v", i, "relayed", h.name, q))
                else:
                    reason, dsn, took = self.defer_reason(mxn, ip)
                    relay = "none" if "connect to" in reason else f"{mxn}[{ip}]:25"
                    E(t2 + took, st, f"{sp}{q}: to=<{m.rcpts[i]}>, relay={relay}, "
                                     f"{self.delays(t2 - t_arr, 0.01, took, 0)}, dsn={dsn}, status=deferred ({reason})",
                      m, ("v", i, "deferred", h.name, q))
                    still.append((i, d))
                t2 += 0.001
            pend = still
            t = t2 + 31
        return t

    def make_ndr(self, h, q, t, m, bad):
        """bounce daemon: sender non-delivery notification and the NDR's own lifecycle."""
        rnd, E, st = self.rnd, self.E, h.st
        if m.sender == "":
            # a bounce of a bounce: postfix does not return it (double bounce to postmaster is dropped)
            return t
        n = self.qid(h, t)
        E(t, st, f"{h.bounce[self.rr(len(h.bounce))]}{q}: sender non-delivery notification: {n}", m,
          ("n", h.name, n))
        nm = Msg("ndr", h.name, "", [m.sender], f"{time.strftime('%Y%m%d%H%M%S', time.gmtime(int(t)))}.{n}@{h.fqdn}", t)
        nm.parent = (m.host, m.qid)
        nm.qid = n
        self.live.add(nm)
        tc = t - 0.002
        E(tc, st, f"{h.cleanup[self.rr(4)]}{n}: message-id=<{nm.msgid}>", nm, ("c", h.name, n, None))
        tq = t + 0.002 + rnd() * 0.01
        E(tq, st, f"{h.qmgr[0]}{n}: from=<>, size={self.rr(3000, 9000)}, nrcpt=1 (queue active)", nm)
        s = m.sender
        dom = s.rsplit("@", 1)[-1]
        if dom in ("example.com", "example.org") and self.stores and h.role != "store":
            st2 = self.stores[0]
            tt = tq + 0.05 + rnd() * 0.1
            E(tt, st, f"{h.lmtp[self.rr(4)]}{n}: to=<{s}>, relay={st2.fqdn}[{st2.ip}]:24, "
                      f"{self.delays(0.01, 0.01, 0.01, tt - tq)}, dsn=2.0.0, status=sent "
                      f"(250 2.0.0 <{s}> {self.R.getrandbits(64):016x}{self.rr(10000, 99999)} Saved)",
              nm, ("v", 0, "delivered", h.name, n))
            tr = tt + 0.002
            E(tr, st, f"{h.qmgr[0]}{n}: removed", nm)
            self.hold(h, n, tr)
        elif "@" not in s or dom.endswith(h.fqdn) or dom in ("example.com", "example.org"):
            tt = tq + 0.01 + rnd() * 0.05
            E(tt, st, f"{h.local[self.rr(4)]}{n}: to=<{s}>, relay=local, {self.delays(0.01, 0.01, 0, tt - tq)}, "
                      f"dsn=2.0.0, status=sent (delivered to mailbox)", nm, ("v", 0, "delivered", h.name, n))
            tr = tt + 0.002
            E(tr, st, f"{h.qmgr[0]}{n}: removed", nm)
            self.hold(h, n, tr)
        else:
            self.deliver(h, n, tq, nm, [0], tq, 5)
        return t + 0.001

    # ------------------------------------------------------------ scenarios
    def sc_inbound(self, t, client=None, sender=None, rcpt=None):
        rnd = self.rnd
        h = self.mxs[self.rr(len(self.mxs))]
        if client is None:
            client = self.clients[self.rr(len(self.clients))]
        if sender is None:
            sender, sd = self.ext()
        n = 1 if rnd() < 0.75 else (2 if rnd() < 0.7 else 3 + self.rr(3))
        rcpts = [rcpt] if rcpt else [self.local_user() for _ in range(n)]
        mid = self.mid(t, sender.split("@")[1])
        m = Msg("in", h.name, sender, rcpts, mid, t)
        m.cip = client[2]
        self.live.add(m)
        if rnd() < 0.3:
            E = self.E
            E(t + 0.01, h.st, f"{h.spf[self.rr(4)]}prepend Received-SPF: Pass (mailfrom) identity=mailfrom; "
                              f"client-ip={client[2]}; helo={client[1]}; envelope-from={sender}; "
                              f"receiver=<UNKNOWN>")
        q, ta, sess = self.receive(h, t, client[0], client[1], sender, len(rcpts), self.rr(2000, 200000),
                                   mid, m, tls=rnd() < 0.7)
        m.qid = q
        m.chain.append({"host": h.name, "queue_id": q, "link": "origin"})
        self.disconnect(h, sess)
        self.deliver(h, q, ta, m, list(range(len(rcpts))), t)

    def sc_outbound(self, t):
        rnd = self.rnd
        hs = self.relays or self.stores or self.mxs
        h = hs[self.rr(len(hs))]
        r = rnd()
        n = 1 if rnd() < 0.7 else 1 + self.rr(1, 5)
        rcpts = []
        for _ in range(n):
            if rnd() < 0.12:
                rcpts.append(self.local_user())
            else:
                rcpts.append(self.ext()[0])
        rcpts = list(dict.fromkeys(rcpts))
        if r < 0.65:
            sender = self.local_user()
            ic = self.internal_clients[self.rr(len(self.internal_clients))]
            mid = self.mid(t, sender.split("@")[1])
            m = Msg("out", h.name, sender, rcpts, mid, t)
            self.live.add(m)
            q, ta, sess = self.receive(h, t, ic[0], ic[1], sender, len(rcpts), self.rr(2000, 900000), mid, m,
                                       sasl=sender)
            self.disconnect(h, sess)
        else:
            app = self.apps[self.rr(len(self.apps))]
            sender = f"{app}@{h.fqdn}"
            mid = self.mid(t, h.fqdn)
            m = Msg("out", h.name, sender, rcpts, mid, t)
            self.live.add(m)
            q, ta, sess = self.receive(h, t, None, None, sender, len(rcpts), self.rr(800, 60000), mid, m,
                                       via_pickup=(self.R.choice([33, 1000, 1001, 0, 112]), app))
        m.qid = q
        m.chain.append({"host": h.name, "queue_id": q, "link": "origin"})
        # recipients in our own domain go to the inbound MX (if it is another host in this file)
        own = [i for i, x in enumerate(rcpts) if x.rsplit("@", 1)[1] in ("example.com", "example.org")]
        ext = [i for i in range(len(rcpts)) if i not in own]
        tl = ta
        if own and self.mxs and self.mxs[0] is not h:
            mx = self.mxs[0]
            tt = ta + 0.05 + rnd() * 0.3
            q2, ta2, sess2 = self.receive(mx, tt, f"{h.fqdn}[{h.ip}]", h.fqdn, sender, len(own),
                                          self.rr(2000, 90000), mid, m, link=(q, "relay"))
            tq = ta2 + 0.02
            sp = h.smtp[self.rr(len(h.smtp))]
            for i in own:
                tq += 0.001
                self.E(tq, h.st, f"{sp}{q}: to=<{rcpts[i]}>, relay={mx.fqdn}[{mx.ip}]:25, "
                                 f"{self.delays(ta - t, 0.01, 0.02, tq - ta)}, dsn=2.0.0, status=sent "
                                 f"(250 2.0.0 Ok: queued as {q2})", m)
            self.disconnect(mx, sess2, tq + 0.01)
            m.kind = "in"
            m.cip = h.ip
            self.deliver(mx, q2, ta2, m, own, ta2, 0)
            m.kind = "out"
            tl = tq
            if not ext:
                tr = tl + 0.003
                self.E(tr, h.st, f"{h.qmgr[0]}{q}: removed", m)
                self.hold(h, q, tr)
                return
            own = []
        self.deliver(h, q, max(ta, tl), m, own + ext if own else ext, t, 1)

    def sc_cron(self, t):
        h = self.hosts[self.rr(len(self.hosts))]
        rnd = self.rnd
        user = "root" if rnd() < 0.7 else self.R.choice(["logcheck", "nagios", "backup"])
        sender = f"{user}@{h.fqdn}"
        mid = f"{time.strftime('%Y%m%d%H%M%S', time.gmtime(int(t)))}.{self.R.getrandbits(40):010X}@{h.fqdn}"
        rc = f"{user}@{h.fqdn}"
        m = Msg("cron", h.name, sender, [rc], mid, t)
        self.live.add(m)
        q, ta, _ = self.receive(h, t, None, None, sender, 1, self.rr(600, 9000), mid, m,
                                via_pickup=(0 if user == "root" else self.rr(100, 130), user))
        m.qid = q
        m.chain.append({"host": h.name, "queue_id": q, "link": "origin"})
        E, st = self.E, h.st
        tl = ta + 0.01 + rnd() * 0.05
        if rnd() < 0.45:
            # root is aliased to an external admin address: forwarded as NEWQID, then relayed
            f = self.qid(h, tl)
            fwd = self.R.choice(["ops-alerts@gmail.com", "admin@" + self.ext_domains[40][0],
                                 "noc@" + self.ext_domains[45][0]])
            E(tl, st, f"{h.cleanup[self.rr(4)]}{f}: message-id=<{mid}>", m, ("c", h.name, f, (q, "forward")))
            tl += 0.002
            E(tl, st, f"{h.local[self.rr(4)]}{q}: to=<{rc}>, orig_to=<{user}>, relay=local, "
                      f"{self.delays(ta - t, 0.01, 0, tl - ta)}, dsn=2.0.0, status=sent (forwarded as {f})", m)
            tf = tl + 0.005 + rnd() * 0.02
            E(tf, st, f"{h.qmgr[0]}{f}: from=<{sender}>, size={self.rr(600, 9000)}, nrcpt=1 (queue active)", m)
            m.rcpts[0] = fwd
            self.deliver_out(h, f, tf, m, [0], tf, 1)
        else:
            E(tl, st, f"{h.local[self.rr(4)]}{q}: to=<{rc}>, orig_to=<{user}>, relay=local, "
                      f"{self.delays(ta - t, 0.01, 0, tl - ta)}, dsn=2.0.0, status=sent (delivered to mailbox)",
              m, ("v", 0, "delivered", h.name, q))
        tr = tl + 0.002
        E(tr, st, f"{h.qmgr[0]}{q}: removed", m)
        self.hold(h, q, tr)

    def sc_reject(self, t):
        rnd, E = self.rnd, self.E
        h = self.mxs[self.rr(len(self.mxs))] if rnd() < 0.8 or not self.stores else self.stores[0]
        st = h.st
        c = self.clients[self.rr(len(self.clients))]
        sender = self.ext()[0] if rnd() < 0.9 else ""
        x = rnd()
        if x < 0.25:
            rc = self.ext()[0]
        elif x < 0.45:
            u = self.R.choice(FIRST) + str(self.rr(1, 99))
            rc = f"{u}@{self.R.choice(LOCAL_DOMAINS)}"
        else:
            rc = self.local_user()
        m = Msg("reject", h.name, sender, [rc], None, t)
        self.live.add(m)
        si, sp = self.smtpd(h, t, 3.0)
        E(t, st, f"{sp}connect from {c[0]}")
        t += 0.1 + rnd() * 0.8
        tail = f"from=<{sender}> to=<{rc}> proto=ESMTP helo=<{c[1]}>"
        act = ("v", 0, "rejected", h.name, None)
        greylisted = False
        if x < 0.25:
            line = f"NOQUEUE: reject: RCPT from {c[0]}: 554 5.7.1 <{rc}>: Relay access denied; {tail}"
        elif x < 0.45:
            line = (f"NOQUEUE: reject: RCPT from {c[0]}: 550 5.1.1 <{rc}>: Recipient address rejected: "
                    f"User unknown in virtual mailbox table; {tail}")
        elif x < 0.65:
            E(t - 0.01, st, f"{h.postgrey}action=greylist, reason=new, client_name={c[0].split('[')[0]}, "
                            f"client_address={c[2]}, sender={sender}, recipient={rc}")
            line = (f"NOQUEUE: reject: RCPT from {c[0]}: 450 4.2.0 <{rc}>: Recipient address rejected: "
                    f"Greylisted, see http://postgrey.schweikert.ch/help/{rc.split('@')[1]}.html; {tail}")
            greylisted = True
        elif x < 0.85:
            line = (f"NOQUEUE: reject: RCPT from {c[0]}: 554 5.7.1 Service unavailable; Client host [{c[2]}] "
                    f"blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{c[2]}; {tail}")
        elif x < 0.93:
            E(t - 0.01, st, f"{h.spf[self.rr(4)]}prepend Received-SPF: Fail (mailfrom) identity=mailfrom; "
                            f"client-ip={c[2]}; helo={c[1]}; envelope-from={sender}; receiver={rc}")
            line = (f"NOQUEUE: reject: RCPT from {c[0]}: 550 5.7.23 <{rc}>: Recipient address rejected: "
                    f"Message rejected due to: SPF fail - not authorized. Please see "
                    f"http://www.openspf.net/Why?s=mfrom;id={sender.replace('@', '%40')};ip={c[2]};r=<UNKNOWN>; {tail}")
        else:
            line = (f"NOQUEUE: reject: RCPT from {c[0]}: 450 4.7.1 Client host rejected: cannot find your "
                    f"reverse hostname, [{c[2]}]; {tail}")
        E(t, st, f"{sp}{line}", m, act)
        t += 0.05 + rnd() * 0.5
        if rnd() < 0.3:
            E(t, st, f"{sp}lost connection after RCPT from {c[0]}")
            E(t + 0.001, st, f"{sp}disconnect from {c[0]} ehlo=1 mail=1 rcpt=0/1 commands=2/3")
        else:
            E(t, st, f"{sp}disconnect from {c[0]} ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=4/5")
        if greylisted and rnd() < 0.7 and sender:
            tr = t + 300 + rnd() * 900
            E(tr - 0.2, st, f"{h.postgrey}action=pass, reason=triplet found, delay={int(tr - t)}, "
                            f"client_name={c[0].split('[')[0]}, client_address={c[2]}, sender={sender}, recipient={rc}")
            self.sc_inbound(tr, c, sender, rc)

    def noise(self, t):
        rnd, E = self.rnd, self.E
        x = rnd()
        hs = self.stores or self.mxs
        h = hs[self.rr(len(hs))]
        st = h.st
        if x < 0.45:
            u = self.local_user()
            ip = f"10.1.{self.rr(4)}.{self.rr(20, 220)}"
            sess = f"{self.R.getrandbits(64):016x}"[:16]
            E(t, st, f"{h.dovecot}imap-login: Login: user=<{u}>, method=PLAIN, rip={ip}, lip={h.ip}, "
                     f"mpid={self.rr(2000, 60000)}, TLS, session=<{sess}>")
            if rnd() < 0.6:
                E(t + 5 + rnd() * 600, st,
                  f"{h.dovecot}imap({u})<{self.rr(2000, 60000)}><{sess}>: Disconnected: Logged out "
                  f"in={self.rr(100, 9000)} out={self.rr(500, 900000)} deleted=0 expunged=0 trashed=0 "
                  f"hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0")
        elif x < 0.6:
            u = self.local_user()
            E(t, st, f"{h.dovecot}pop3-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{u}>, "
                     f"method=PLAIN, rip={self.pubip()}, lip={h.pub}, TLS, session=<{self.R.getrandbits(64):016x}>")
        elif x < 0.8:
            rh = (self.relays or self.mxs)[0]
            c = f"unknown[{self.pubip()}]"
            si, sp = self.smtpd(rh, t, 4.0)
            E(t, rh.st, f"{sp}connect from {c}")
            E(t + 0.5 + rnd(), rh.st, f"{sp}warning: {c}: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
            E(t + 2 + rnd(), rh.st, f"{sp}lost connection after AUTH from {c}")
            E(t + 2.01 + rnd() * 0.01, rh.st, f"{sp}disconnect from {c} ehlo=1 auth=0/1 commands=1/2")
        elif x < 0.9:
            h = self.mxs[0]
            c = self.clients[self.rr(len(self.clients))]
            E(t, h.st, f"{h.anvil[0]}statistics: max connection rate 1/60s for (smtp:{c[2]}) at "
                       f"{self.rfc3164(int(t) - self.rr(1, 500))}")
        else:
            h = self.mxs[0]
            c = self.clients[self.rr(len(self.clients))]
            sp = h.smtpd[self.rr(len(h.smtpd))]
            E(t, h.st, f"{sp}warning: hostname {c[1]} does not resolve to address {c[2]}: Name or service not known")

    # ------------------------------------------------------------ output
    def rfc3164(self, s):
        tm = time.gmtime(s)
        return f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"

    def flush_until(self, sec_end):
        """Write every bucket with second < sec_end."""
        b = self.buckets
        out = self.outbuf
        n = self.written
        limit = self.limit
        s = self.cursor
        gm = time.gmtime
        apply = self.apply
        while s < sec_end:
            lst = b.pop(s, None)
            if lst:
                lst.sort(key=_k0)
                tm = gm(s)
                p3164 = f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} "
                p3339 = f"{tm.tm_year}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}."
                for tt, st, text, m, act in lst:
                    if st:
                        out.append(f"{p3339}{int((tt - s) * 1000000):06d}+00:00 {text}")
                    else:
                        out.append(p3164 + text)
                    n += 1
                    if m is not None:
                        if not m.first:
                            m.first = n
                        m.last = n
                        m.nl += 1
                        if act is not None:
                            apply(m, act)
                        m.pending -= 1
                        if m.pending == 0:
                            self.finish(m)
                    if n >= limit:
                        self.written = n
                        self.cursor = s + 1
                        self.drain()
                        return True
                if len(out) > 20000:
                    self.written = n
                    self.drain()
            s += 1
        self.cursor = s
        self.written = n
        return False

    def apply(self, m, act):
        if type(act) is list:
            for a in act:
                self.apply(m, a)
            return
        k = act[0]
        if k == "v":
            i = act[1]
            m.verdict[i] = act[2]
            m.vhost[i] = act[3]
            m.vqid[i] = act[4]
        elif k == "c":
            link = act[3]
            if link is None:
                m.chain.append({"host": act[1], "queue_id": act[2], "link": "origin"})
            else:
                m.chain.append({"host": act[1], "queue_id": act[2], "link": link[1], "from": link[0]})
        elif k == "n":
            m.ndr = act[2]

    def drain(self):
        if self.outbuf:
            self.outbuf.append("")
            self.out.write("\n".join(self.outbuf))
            self.outbuf.clear()

    def finish(self, m):
        if m.done:
            return
        m.done = True
        self.live.discard(m)
        if self.truth_f is None or not m.first:
            return
        rec = {
            "queue_id": m.qid, "host": m.host, "kind": m.kind, "first_line": m.first, "last_line": m.last,
            "n_lines": m.nl, "message_id": m.msgid, "sender": m.sender,
            "chain": m.chain,
            "recipients": [{"recipient": o, "verdict": v, "host": vh, "queue_id": vq}
                           if o == r else
                           {"recipient": o, "verdict": v, "host": vh, "queue_id": vq, "forwarded_to": r}
                           for o, r, v, vh, vq in zip(m.orig, m.rcpts, m.verdict, m.vhost, m.vqid)],
            "ndr_queue_id": m.ndr,
        }
        if m.parent:
            rec["parent"] = {"host": m.parent[0], "queue_id": m.parent[1]}
        if not m.pending == 0:
            rec["complete"] = False
        self.truth_f.write(json.dumps(rec, separators=(",", ":")) + "\n")

    def run(self, out, truth_f):
        a = self.a
        self.out = out
        self.outbuf = []
        self.truth_f = truth_f
        self.cursor = self.start
        rnd = self.rnd
        t = float(self.start)
        rate = a.rate
        self.p_defer = 0.08
        self.p_bounce = 0.03
        self.p_expire_given_defer = 0.10
        ev = self.R.expovariate
        nmsg = 0
        scen = (self.sc_inbound, self.sc_outbound, self.sc_reject, self.sc_cron)
        while True:
            t += ev(rate)
            if int(t) > self.cursor:
                if self.flush_until(int(t)):
                    break
            x = rnd()
            if x < 0.53:
                self.sc_inbound(t)
            elif x < 0.85:
                self.sc_outbound(t)
            elif x < 0.95:
                self.sc_reject(t)
            else:
                self.sc_cron(t)
            if rnd() < 0.35:
                self.noise(t + rnd())
            nmsg += 1
            if not nmsg & 0xFFFF:
                for h in self.hosts:
                    cut = t - 7200
                    h.busy = {k: v for k, v in h.busy.items() if v > cut}
        self.drain()
        for m in sorted(self.live, key=lambda m: m.first or 1 << 60):
            if m.first:
                m.done = False
                self.finish(m)


class _NullSet:
    def add(self, x):
        pass

    def discard(self, x):
        pass

    def __iter__(self):
        return iter(())


def fast_rr(rnd):
    """randrange() replacement: ~5x faster, still deterministic for a given seed."""
    def rr(a, b=None):
        if b is None:
            return int(rnd() * a)
        return a + int(rnd() * (b - a))
    return rr


def _k0(e):
    return e[0]


# ======================================================================= exim
class EximGen:
    """Exim 4 mainlog: <=, =>, ->, **, ==, Completed."""

    def __init__(self, a):
        self.a = a
        self.R = random.Random(a.seed)
        pg = PostfixGen.__new__(PostfixGen)
        pg.R = self.R
        pg.rnd = self.R.random
        pg.rr = fast_rr(self.R.random)
        pg._pools()
        self.pg = pg

    def eid(self, t):
        """Exim message id: base-62 time, pid and sub-second fraction (1tWxyz-000ABC-3F)."""
        rr = self.pg.rr
        return f"{b62(int(t), 6)}-{b62(rr(1000, 4000000), 6)}-{b62(rr(62 ** 2), 2)}"

    def run(self, out, truth_f):
        a, R, pg = self.a, self.R, self.pg
        rnd, rr = R.random, fast_rr(R.random)
        buckets = {}
        t = float(a.start_epoch)
        cursor = int(t)
        n = 0
        limit = a.lines
        buf = []
        live = {}

        def E(tt, text, m=None, act=None):
            s = int(tt)
            b = buckets.get(s)
            if b is None:
                b = buckets[s] = []
            b.append((tt, text, m, act))
            if m is not None:
                m["pending"] += 1

        def fin(m):
            if truth_f is not None and m["first_line"]:
                rec = {k: m[k] for k in ("queue_id", "host", "kind", "first_line", "last_line", "n_lines",
                                         "message_id", "sender", "chain", "recipients", "ndr_queue_id")}
                truth_f.write(json.dumps(rec, separators=(",", ":")) + "\n")

        while True:
            t += R.expovariate(a.rate)
            stop = False
            while cursor < int(t):
                lst = buckets.pop(cursor, None)
                if lst:
                    lst.sort(key=_k0)
                    tm = time.gmtime(cursor)
                    p = f"{tm.tm_year}-{tm.tm_mon:02d}-{tm.tm_mday:02d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} "
                    for _, text, m, act in lst:
                        buf.append(p + text + "\n")
                        n += 1
                        if m is not None:
                            if not m["first_line"]:
                                m["first_line"] = n
                            m["last_line"] = n
                            m["n_lines"] += 1
                            if act:
                                m["recipients"][act[0]]["verdict"] = act[1]
                            m["pending"] -= 1
                            if m["pending"] == 0:
                                live.pop(id(m), None)
                                fin(m)
                        if n >= limit:
                            stop = True
                            break
                    if len(buf) > 20000 or stop:
                        out.write("".join(buf))
                        buf.clear()
                if stop:
                    break
                cursor += 1
            if stop:
                break
            x = rnd()
            if x < 0.12:
                c = pg.clients[rr(len(pg.clients))]
                s = pg.ext()[0]
                rc = pg.local_user() if rnd() < 0.5 else pg.ext()[0]
                m = {"queue_id": None, "host": "exim1", "kind": "reject", "first_line": 0, "last_line": 0,
                     "n_lines": 0, "message_id": None, "sender": s, "chain": [],
                     "recipients": [{"recipient": rc, "verdict": "deferred"}], "ndr_queue_id": None, "pending": 0}
                live[id(m)] = m
                hn, ip = c[0].split("[")
                E(t, f"H={hn} [{ip[:-1]}] F=<{s}> rejected RCPT <{rc}>: relay not permitted", m, (0, "rejected"))
                continue
            q = self.eid(t)
            c = pg.clients[rr(len(pg.clients))]
            hn, ip = c[0].split("[")
            ip = ip[:-1]
            s, _ = pg.ext()
            nr = 1 if rnd() < 0.8 else 2
            rcpts = [pg.ext()[0] if rnd() < 0.5 else pg.local_user() for _ in range(nr)]
            mid = pg.mid(t, s.split("@")[1])
            m = {"queue_id": q, "host": "exim1", "kind": "in", "first_line": 0, "last_line": 0, "n_lines": 0,
                 "message_id": mid, "sender": s, "chain": [{"host": "exim1", "queue_id": q, "link": "origin"}],
                 "recipients": [{"recipient": r, "verdict": "deferred"} for r in rcpts], "ndr_queue_id": None,
                 "pending": 0}
            live[id(m)] = m
            E(t, f"{q} <= {s} H={hn} [{ip}] P=esmtps X=TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256 "
                 f"CV=no S={rr(2000, 200000)} id={mid}", m)
            tt = t + 0.2 + rnd()
            bad = False
            for i, r in enumerate(rcpts):
                tt += 0.01
                dom = r.split("@")[1]
                if dom in ("example.com", "example.org"):
                    E(tt, f"{q} => {r.split('@')[0]} <{r}> R=localuser T=local_delivery", m, (i, "delivered"))
                    continue
                d = next((e for e in pg.ext_domains if e[0] == dom), None) or (dom, f"mx.{dom}", "postfix", "203.0.113.9")
                y = rnd()
                if y < 0.03:
                    E(tt, f"{q} ** {r} R=dnslookup T=remote_smtp H={d[1]} [{d[3]}] X=TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256 CV=yes: "
                          f"SMTP error from remote mail server after RCPT TO:<{r}>: 550 5.1.1 <{r}>: Recipient address rejected: User unknown", m, (i, "bounced"))
                    bad = True
                elif y < 0.08:
                    E(tt, f"{q} == {r} R=dnslookup T=remote_smtp defer (-44) H={d[1]} [{d[3]}]: SMTP error from remote "
                          f"mail server after RCPT TO:<{r}>: 451 4.7.1 Greylisted, please try again later", m, (i, "deferred"))
                    tt2 = tt + 600 + rnd() * 1800
                    E(tt2, f"{q} => {r} R=dnslookup T=remote_smtp H={d[1]} [{d[3]}] C=\"{pg.reply_sent(d[2], mid, tt2)}\"", m, (i, "relayed"))
                    tt = max(tt, tt2)
                else:
                    E(tt, f"{q} => {r} R=dnslookup T=remote_smtp H={d[1]} [{d[3]}] "
                          f"X=TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256 CV=yes "
                          f"C=\"{pg.reply_sent(d[2], mid, tt)}\"", m, (i, "relayed"))
            if bad:
                nq = self.eid(tt)
                m["ndr_queue_id"] = nq
                E(tt + 0.01, f"{nq} <= <> R={q} U=Debian-exim P=local S={rr(2000, 9000)}")
                E(tt + 0.02, f"{nq} => {s} R=dnslookup T=remote_smtp H=mx.{s.split('@')[1]} [{pg.pubip()}] C=\"250 OK\"")
                E(tt + 0.03, f"{nq} Completed")
            E(tt + 0.01, f"{q} Completed", m)
        if buf:
            out.write("".join(buf))
        for m in sorted(live.values(), key=lambda m: m["first_line"] or 1 << 60):
            if m["first_line"]:
                fin(m)


# ======================================================================= main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, required=True, help="exact number of lines to write")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="output file ('-' for stdout)")
    p.add_argument("--truth", help="write per-message ground truth JSONL here")
    p.add_argument("--hosts", type=int, default=3, help="number of postfix hosts (mx1, mx2, relay1, mx3, ...)")
    p.add_argument("--stamp", choices=("rfc3164", "rfc3339", "mixed"), default="rfc3164")
    p.add_argument("--year", type=int, default=2026)
    p.add_argument("--start", help="start time, ISO 8601, UTC (default: <year>-11-21T00:00:00)")
    p.add_argument("--rate", type=float, default=1.2, help="new messages per second (default 1.2)")
    p.add_argument("--long-ids", default="auto",
                   help="host using enable_long_queue_ids: auto (mx2), none, or a host name")
    p.add_argument("--mta", choices=("postfix", "exim"), default="postfix")
    p.add_argument("--gzip", action="store_true", help="gzip the output (adds .gz if missing)")
    p.add_argument("--quiet", "-q", action="store_true")
    a = p.parse_args(argv)
    start = a.start or f"{a.year}-11-21T00:00:00"
    d = _dt.datetime.fromisoformat(start)
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    a.start_epoch = d.timestamp()
    return a


def main(argv=None):
    a = parse_args(argv)
    t0 = time.perf_counter()
    proc = None
    path = a.out
    if a.gzip and path != "-" and not path.endswith(".gz"):
        path += ".gz"
    if path == "-":
        raw = sys.stdout
        out = raw
    elif a.gzip:
        gz = shutil.which("pigz") or shutil.which("gzip")
        fobj = open(path, "wb")
        if gz:
            proc = subprocess.Popen([gz, "-n", "-6", "-c"], stdin=subprocess.PIPE, stdout=fobj)
            out = open(proc.stdin.fileno(), "w", encoding="utf-8", buffering=1 << 20, closefd=False)
        else:
            import gzip
            out = gzip.open(fobj, "wt", encoding="utf-8", compresslevel=6)
    else:
        out = open(path, "w", encoding="utf-8", buffering=1 << 20)
    truth_f = open(a.truth, "w", encoding="utf-8", buffering=1 << 20) if a.truth else None
    gen = EximGen(a) if a.mta == "exim" else PostfixGen(a)
    gen.run(out, truth_f)
    if out is not sys.stdout:
        out.close()
    if proc is not None:
        proc.stdin.close()
        proc.wait()
        fobj.close()
    if truth_f:
        truth_f.close()
    dt = time.perf_counter() - t0
    if not a.quiet:
        print(f"genlog: wrote {a.lines} lines to {path} in {dt:.1f}s ({a.lines / dt:,.0f} lines/s)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
