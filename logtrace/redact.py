"""``--redact``: addresses, client and relay names and IP addresses replaced by stable tokens.

A report or a story can then be shared (a ticket, a mailing list) without personal data,
and still be read: the same input always gives the same token within a run, so a sender who
appears in five rows is one token five times, a domain is the same token in every address,
and joins, counts and groupings are unchanged.

Tokens are keyed hashes (BLAKE2b, 32 bits shown):

* ``bob@example.org`` → ``u-1a2b3c4d@h-5e6f7a8b.invalid`` (local part and domain separately,
  so per-domain tables still group);
* host names → ``h-5e6f7a8b.invalid``; IPv4/IPv6 addresses → ``ip-9c0d1e2f``;
* Message-IDs are hashed like addresses (they usually are ``local@host``).

What stays: queue IDs, times, DSN codes, reply texts with the above replaced, program names,
the syslog ``host`` of each line (the postmaster's own servers), and values that identify no
one (``localhost``, loopback addresses, ``unknown``, ``local``, ``none``, Postfix service names).

The key is ``$LOGTRACE_REDACT_KEY`` when set (tokens then repeat across runs, so two redacted
reports can be compared), else random per run (nothing can be looked up by hashing guesses).

Redaction is applied where output is made — :func:`logtrace.cli.render.safe` for everything a
person reads, :mod:`logtrace.cli.writers` for JSON, JSONL, CSV and Parquet, and to the summary's
section tables — so no library result is changed and no command needs its own code for it.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

#: columns / JSON keys whose whole value is an address (or a Message-ID)
ADDRESS_KEYS = frozenset({"sender", "recipient", "orig_recipient", "message_id", "from", "to", "rcpt"})
#: columns / JSON keys whose whole value is a host name or an IP address (a client, a relay, a peer)
HOST_KEYS = frozenset({"client_host", "client_ip", "relay_host", "relay_ip", "client", "relay", "peer", "helo",
                       "domain", "sender_domain", "recipient_domain", "remote_host", "remote_ip", "client_name",
                       "next_host"})
#: values that identify no one and stay as they are
KEEP = frozenset({"", "localhost", "localhost.localdomain", "127.0.0.1", "::1", "unknown", "local", "none", "<>", "?"})

_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\w)"
_IPV6 = r"(?:IPv6:)?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?"
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
#: ``name[ip]`` (Postfix client/relay), ``[ip]``, ``helo=<name>``, ``name=domain`` (DNS errors),
#: Exim ``H=name (helo) [ip]``
_HOST_IP = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)?\[(?P<ip>" + _IPV6 + "|" + _IPV4 + r")\]")
_HELO = re.compile(r"(?P<pre>\bhelo=<)(?P<name>[^<>\s]+)(?=>)")
_DNS_NAME = re.compile(r"(?P<pre>\b(?:name|Hostname)=)(?P<name>[A-Za-z0-9_.-]+\.[A-Za-z]{2,}\.?)")
_EXIM_H = re.compile(r"(?P<pre>\bH=)(?P<name>[A-Za-z0-9_.-]+\.[A-Za-z0-9_-]+)?(?P<mid> ?\()(?P<helo>[^)\s]*)(?=\))"
                     r"|(?P<pre2>\bH=)(?P<name2>[A-Za-z0-9_.-]+\.[A-Za-z0-9_-]+)(?=[\s:]|$)")
_EXIM_USER = re.compile(r"(?P<pre>\b(?:U|id)=)(?P<name>[^\s,;:]+)")  #: Exim's local user (``U=root``, ``id=``)
_BARE_IP = re.compile(_IPV4 + r"|(?<![\w:.-])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_SERVICE = re.compile(r"^(?:private|public)/[\w.-]+$")
_TOKEN = re.compile(r"^(?:h-[0-9a-f]{8}\.invalid|ip-[0-9a-f]{8}|u-[0-9a-f]{8})$")  #: already redacted: stays (idempotent)


def _looks_ipv6(s: str) -> bool:
    """A bare ``a:b::c`` is an IPv6 address only when it has a ``::`` or eight groups (not ``10:42:03``)."""
    return "::" in s or s.count(":") == 7


@dataclass
class Redactor:
    """Keyed, consistent tokens for addresses, host names and IP addresses."""

    key: bytes = field(default_factory=lambda: os.environ.get("LOGTRACE_REDACT_KEY", "").encode() or os.urandom(16))
    _cache: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def _token(self, kind: str, value: str) -> str:
        k = (kind, value)
        t = self._cache.get(k)
        if t is None:
            digest = hashlib.blake2b(f"{kind}\0{value}".encode("utf-8", "surrogateescape"), key=self.key[:64], digest_size=4).hexdigest()
            t = self._cache[k] = f"{kind}-{digest}"
        return t

    # ------------------------------------------------------------------ one value of a known kind
    def host(self, name: str) -> str:
        """A host name, domain or IP address → its token (loopback, ``localhost``, ``unknown`` stay)."""
        n = name.strip()
        low = n.lower().rstrip(".")
        if low in KEEP or _SERVICE.match(low) or low.startswith("127.") or _TOKEN.match(low):
            return name
        bare = low[5:] if low.startswith("ipv6:") else low
        if re.fullmatch(_IPV4, bare) or (":" in bare and _looks_ipv6(bare)):
            return self._token("ip", bare)
        return self._token("h", low) + ".invalid"

    def address(self, addr: str) -> str:
        """``local@domain`` → ``u-…@h-….invalid``; ``<…>`` kept around it; ``<>`` stays."""
        a = addr.strip()
        if a.startswith("<") and a.endswith(">"):
            return "<" + self.address(a[1:-1]) + ">" if len(a) > 2 else a
        if a.lower() in KEEP:
            return addr
        local, at, domain = a.rpartition("@")
        if not at:
            return a if _TOKEN.match(a) or _SERVICE.match(a.lower()) else self._token("u", a.lower())
        if _TOKEN.match(local):
            return f"{local}@{self.host(domain)}"
        return f"{self._token('u', local.lower())}@{self.host(domain)}"

    def value(self, key: str | None, v: str) -> str:
        """A value of column/key ``key``: whole-value tokens for address and host keys, else :meth:`text`."""
        if key in ADDRESS_KEYS:
            return self.text(v) if " " in v.strip() else self.address(v)
        if key in HOST_KEYS:
            return self.text(v) if any(c in v for c in " [(") else self.host(v)
        return self.text(v)

    # ------------------------------------------------------------------ free text (details, replies, raw lines)
    def text(self, s: str) -> str:
        """Addresses, ``name[ip]``, ``helo=<…>``, DNS names in errors, Exim ``H=`` names and bare IPs in ``s`` → tokens."""
        if not s:
            return s
        s = _ADDRESS.sub(lambda m: self.address(m.group()), s)
        s = _HOST_IP.sub(self._host_ip, s)
        s = _HELO.sub(lambda m: m.group("pre") + self.host(m.group("name")), s)
        s = _DNS_NAME.sub(lambda m: m.group("pre") + self.host(m.group("name")), s)
        s = _EXIM_H.sub(self._exim_h, s)
        s = _EXIM_USER.sub(lambda m: m.group("pre") + self.address(m.group("name")), s)
        return _BARE_IP.sub(self._bare_ip, s)

    def _host_ip(self, m: re.Match[str]) -> str:
        name, ip = m.group("name"), m.group("ip")
        if ip.startswith(("h-", "ip-")):
            return m.group()
        if ip.lower().startswith("ipv6:"):
            ip_t = "IPv6:" + self.host(ip[5:])
        elif ":" in ip and not _looks_ipv6(ip):
            return m.group()
        else:
            ip_t = self.host(ip)
        return (self.host(name) if name else "") + "[" + ip_t + "]"

    def _exim_h(self, m: re.Match[str]) -> str:
        if m.group("pre2"):
            return m.group("pre2") + self.host(m.group("name2"))
        name = m.group("name")
        return m.group("pre") + (self.host(name) if name else "") + m.group("mid") + (self.host(m.group("helo")) if m.group("helo") else "")

    def _bare_ip(self, m: re.Match[str]) -> str:
        v = m.group()
        if ":" in v and not _looks_ipv6(v):
            return v
        return self.host(v)

    # ------------------------------------------------------------------ structures
    def deep(self, obj: Any, key: str | None = None) -> Any:
        """A JSON-ready structure with every string redacted (by its key where the key says what it is)."""
        if isinstance(obj, str):
            return self.value(key, obj)
        if isinstance(obj, dict):
            return {k: self.deep(v, k if isinstance(k, str) else key) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.deep(v, key) for v in obj)
        return obj

    def frame(self, df: Any) -> Any:
        """A polars DataFrame with its string columns redacted (each distinct value once)."""
        import polars as pl

        cols = []
        for c, t in df.schema.items():
            if t == pl.String:
                uniq = [u for u in df.get_column(c).unique().to_list() if u is not None]
                new = [self.value(c, u) for u in uniq]
                pairs = [(u, n) for u, n in zip(uniq, new) if u != n]
                if pairs:
                    cols.append(pl.col(c).replace([p[0] for p in pairs], [p[1] for p in pairs]))
            elif t == pl.List(pl.String):
                cols.append(pl.col(c).list.eval(pl.element().map_elements(lambda v, c=c: self.value(c, v), return_dtype=pl.String)))
        return df.with_columns(cols) if cols else df


_active: Redactor | None = None


def enable(on: bool = True) -> None:
    """Turn redaction of all output on (``--redact``) or off."""
    global _active
    _active = Redactor() if on else None


def active() -> Redactor | None:
    """The run's redactor, or None when output is not redacted."""
    return _active
