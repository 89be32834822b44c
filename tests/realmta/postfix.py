"""Private, loopback-only Postfix instances for tests.

Every instance gets its own ``config_directory``, ``queue_directory`` and
``data_directory`` under one temporary base directory, its own ``myhostname``
and ``syslog_name`` (``postfix-mx1`` ...), and listens on high 127.0.0.1 ports.
The system-wide Postfix (``/etc/postfix``, port 25) is never touched.

Logging ("LOGTRACE_MTA_LOGGING" = ``rsyslog`` | ``postlogd``; default: rsyslog
when available, else postlogd):

* ``rsyslog`` - Postfix logs through syslog(3) as on a stock Debian host.  Each
  instance runs inside its own private mount namespace (``unshare -m``) in
  which ``/dev`` is a small tmpfs of symlinks to the real ``/dev`` plus
  ``/dev/log`` -> that instance's own ``rsyslogd`` socket.  Each instance has
  its own ``rsyslogd`` (no system socket, nothing shared with the host) that
  writes the same messages twice:
  ``<name>.log``         RFC 3164: ``Nov 22 06:25:14 mx1 postfix-mx1/smtpd[123]: ...``
  ``<name>.rfc3339.log`` RFC 3339: ``2025-11-22T06:25:14.123456+00:00 mx1.example.test postfix-mx1/smtpd[123]: ...``
  (short host name in the traditional file, as Postfix's own postlogd and a
  default Debian host write it; FQDN in the RFC 3339 file).
  With ``PostfixLab(forward=(ip, port))`` each rsyslogd also forwards mail.*
  to a :class:`LogHost` (one rsyslogd on a loopback TCP port writing
  ``central.log`` / ``central.rfc3339.log`` in the same two formats).
* ``postlogd`` - Postfix's own ``maillog_file`` (RFC 3164 style only: that is
  all postlogd in Postfix 3.7 can write).  The RFC 3339 file is then a
  re-stamped copy (same lines, timestamp converted, year guessed, no
  sub-second part) - a documented last resort.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import smtp_send, wait_for_text

STYLES = ("rfc3164", "rfc3339")
CMD_TIMEOUT = 30


def _which(name: str, *extra: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/bin", *extra):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def postfix_available() -> str | None:
    """Return None when Postfix can be used, else a reason string."""
    if not _which("postfix"):
        return "postfix is not installed (run: bash .ci/install-mta.sh)"
    if os.geteuid() != 0:
        return "the real-Postfix harness must run as root"
    if not _which("postconf"):
        return "postconf missing"
    return None


def _rsyslog_mode_possible() -> str | None:
    for tool in ("rsyslogd", "unshare", "nsenter", "mount"):
        if not _which(tool):
            return f"{tool} not found"
    try:
        r = subprocess.run([_which("unshare"), "-m", "--propagation", "private", "true"],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare failed: {e}"
    if r.returncode != 0:
        return "unshare -m not permitted: " + r.stderr.decode(errors="replace").strip()
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Run a command inside a fresh private mount namespace whose /dev/log is our socket.
_NS_SCRIPT = r"""
set -e
ORIG="$1"; SOCK="$2"; shift 2
mount --rbind /dev "$ORIG"
mount -t tmpfs -o mode=0755,size=1m logtrace-dev /dev
for e in "$ORIG"/* "$ORIG"/.[!.]*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  ln -s "$e" "/dev/${e##*/}"
done
rm -f /dev/log
ln -s "$SOCK" /dev/log
exec "$@"
"""


def ns_prefix(orig: Path, sock: Path) -> list[str]:
    """Command prefix: run in a new private mount namespace whose ``/dev/log`` is ``sock``.

    ``orig`` is an empty directory the real ``/dev`` is bind-mounted on inside it."""
    orig.mkdir(exist_ok=True)
    return [_which("unshare"), "-m", "--propagation", "private", "sh", "-c", _NS_SCRIPT,
            "sh", str(orig), str(sock)]


#: what a per-host rsyslogd sends to the log host (omfwd, TCP, LF-framed): the
#: RSYSLOG_ForwardFormat without its 32-character tag cut, full-precision stamp.
_FWD_TEMPLATE = ('template(name="lt_fwd" type="string" string="<%PRI%>%TIMESTAMP:::date-rfc3339% '
                 '%HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%")\n')


class SyslogDaemon:
    """One private rsyslogd per simulated host, writing both timestamp styles.

    With ``forward=(ip, port)`` it also sends every ``mail.*`` message to a log
    host (:class:`LogHost`) over TCP, as a host of a central-logging site does."""

    def __init__(self, base: Path, name: str, fqdn: str, logs: dict[str, Path],
                 forward: tuple[str, int] | None = None) -> None:
        self.dir = base / f"rsyslog-{name}"
        self.dir.mkdir(mode=0o755)
        self.sock = self.dir / "log.sock"
        self.conf = self.dir / "rsyslog.conf"
        self.pidfile = self.dir / "rsyslogd.pid"
        short = fqdn.split(".")[0]
        self.conf.write_text(f"""\
global(workDirectory="{self.dir}" localHostName="{fqdn}" preserveFQDN="on" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{self.sock}" RateLimit.Interval="0" CreatePath="on")
template(name="lt_rfc3164" type="string"
         string="%TIMESTAMP% {short} %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n")
template(name="lt_rfc3339" type="string"
         string="%TIMESTAMP:::date-rfc3339% {fqdn} %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n")
mail.* action(type="omfile" file="{logs['rfc3164']}" template="lt_rfc3164")
mail.* action(type="omfile" file="{logs['rfc3339']}" template="lt_rfc3339")
""")
        if forward:
            with self.conf.open("a") as f:
                f.write(_FWD_TEMPLATE)
                f.write(f'mail.* action(type="omfwd" target="{forward[0]}" port="{forward[1]}" '
                        'protocol="tcp" template="lt_fwd")\n')
        self.logs = logs
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [_which("rsyslogd"), "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
            stdin=subprocess.DEVNULL, stdout=open(self.dir / "stdout", "wb"),
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("rsyslogd did not start: "
                                   + (self.dir / "stdout").read_text(errors="replace"))
            time.sleep(0.05)

    def stop(self) -> None:
        terminate(self.proc)


def terminate(proc: subprocess.Popen | None) -> None:
    """SIGTERM a daemon we started and wait; SIGKILL it if it does not go in 10 s."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _line_count(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


class LogHost:
    """A central log host: one rsyslogd receiving on a loopback TCP port (imtcp).

    It writes every ``mail.*`` message it receives twice, in the per-host
    templates' formats:
    ``central.log``         RFC 3164 with the sender's short host name
    ``central.rfc3339.log`` RFC 3339 with the sender's FQDN
    """

    def __init__(self, base: Path, logdir: Path, name: str = "central") -> None:
        self.dir = base / f"rsyslog-{name}"
        self.dir.mkdir(mode=0o755)
        self.conf = self.dir / "rsyslog.conf"
        self.pidfile = self.dir / "rsyslogd.pid"
        self.port = free_port()
        self.logs = {"rfc3164": logdir / f"{name}.log", "rfc3339": logdir / f"{name}.rfc3339.log"}
        self.conf.write_text(f"""\
global(workDirectory="{self.dir}" maxMessageSize="64k")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{self.port}")
template(name="lt_rfc3164" type="string"
         string="%TIMESTAMP% %HOSTNAME:F,46:1% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n")
template(name="lt_rfc3339" type="string"
         string="%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n")
mail.* action(type="omfile" file="{self.logs['rfc3164']}" template="lt_rfc3164")
mail.* action(type="omfile" file="{self.logs['rfc3339']}" template="lt_rfc3339")
""")
        self.proc: subprocess.Popen | None = None
        #: per-host RFC 3164 files whose lines must all have arrived before stop()
        self.sources: list[Path] = []

    @property
    def target(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [_which("rsyslogd"), "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
            stdin=subprocess.DEVNULL, stdout=open(self.dir / "stdout", "wb"),
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(self.target, timeout=1):
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("log host rsyslogd did not start: "
                                   + (self.dir / "stdout").read_text(errors="replace"))
            time.sleep(0.05)

    def wait_synced(self, timeout: float = 10) -> bool:
        """Wait (bounded) until the central file has as many lines as the sources together."""
        deadline = time.monotonic() + timeout
        while True:
            want = sum(_line_count(p) for p in self.sources)
            if _line_count(self.logs["rfc3164"]) >= want:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.wait_synced()
        terminate(self.proc)


@dataclass
class PostfixInstance:
    lab: "PostfixLab"
    name: str                      # "mx1"
    fqdn: str                      # "mx1.example.test"
    port: int                      # main smtpd port
    transports: dict[str, str]     # domain -> transport:nexthop
    access: dict[str, str] = field(default_factory=dict)  # recipient access (texthash)
    queue_lifetime: str = "5d"
    reinject_port: int | None = None   # second smtpd without content_filter
    header_checks: dict[str, str] = field(default_factory=dict)  # regexp -> action
    sender_access: dict[str, str] = field(default_factory=dict)  # sender access (texthash)
    #: local aliases (texthash) for ``@local.example.test``, delivered by local(8); empty: no local delivery
    aliases: dict[str, str] = field(default_factory=dict)
    milter_port: int | None = None     # a third smtpd that calls ``milter`` (rspamd)
    milter: str | None = None

    def __post_init__(self) -> None:
        b = self.lab.base
        self.cfg = b / self.name / "etc"
        self.queue = b / self.name / "spool"
        self.data = b / self.name / "lib"
        for d in (self.cfg, self.queue, self.data):
            d.mkdir(parents=True, mode=0o755)
        (b / self.name).chmod(0o755)
        shutil.chown(self.data, "postfix")
        self.logs = {"rfc3164": self.lab.logdir / f"{self.name}.log",
                     "rfc3339": self.lab.logdir / f"{self.name}.rfc3339.log"}
        self.syslog: SyslogDaemon | None = None
        self._write_config()

    # ------------------------------------------------------------ config --
    def _local_delivery(self) -> str:
        """main.cf lines: local(8) for ``local.example.test`` with :attr:`aliases`, else none."""
        if not self.aliases:
            return ("mydestination =\nlocal_recipient_maps =\n"
                    "local_transport = error:5.1.1 local delivery disabled in test instance\nalias_maps =\nalias_database =")
        return (f"mydestination = local.example.test\nlocal_recipient_maps =\nlocal_transport = local\n"
                f"alias_maps = texthash:{self.cfg}/aliases\nalias_database =\ndefault_privs = nobody")

    def _write_config(self) -> None:
        main = f"""\
# generated by tests/realmta/postfix.py
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = {self.fqdn}
mydomain = example.test
myorigin = $myhostname
{self._local_delivery()}
syslog_name = postfix-{self.name}
syslog_facility = mail
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP
biff = no
append_dot_mydomain = no
relayhost =
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_address_preference = ipv4
default_transport = error:5.4.4 no route to this destination in the test harness
transport_maps = texthash:{self.cfg}/transport
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access texthash:{self.cfg}/recipient_access, permit_mynetworks, reject
smtpd_sender_restrictions = check_sender_access texthash:{self.cfg}/sender_access
header_checks = regexp:{self.cfg}/header_checks
smtpd_error_sleep_time = 0
smtp_tls_security_level = none
smtpd_tls_security_level = none
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maximal_queue_lifetime = {self.queue_lifetime}
bounce_queue_lifetime = {self.queue_lifetime}
delay_warning_time = 0h
smtp_connect_timeout = 5s
smtp_helo_timeout = 15s
smtp_rcpt_timeout = 15s
smtp_data_done_timeout = 60s
enable_long_queue_ids = no
maillog_file_prefixes = {self.lab.base}
"""
        if self.lab.logging == "postlogd":
            main += f"maillog_file = {self.logs['rfc3164']}\n"
        (self.cfg / "main.cf").write_text(main)
        master = f"127.0.0.1:{self.port} inet n - n - - smtpd\n"
        if self.reinject_port:
            master += (
                f"127.0.0.1:{self.reinject_port} inet n - n - - smtpd\n"
                "  -o content_filter=\n"
                "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
                "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
                "  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters\n"
                "  -o smtpd_authorized_xforward_hosts=127.0.0.0/8\n")
        if self.milter_port and self.milter:
            master += (f"127.0.0.1:{self.milter_port} inet n - n - - smtpd\n"
                       f"  -o smtpd_milters={self.milter}\n"
                       "  -o milter_default_action=tempfail\n"
                       "  -o milter_content_timeout=120s\n")
        master += """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
amavis    unix  -       -       n       -       2       smtp
  -o smtp_data_done_timeout=60s
  -o smtp_send_xforward_command=yes
"""
        (self.cfg / "master.cf").write_text(master)
        (self.cfg / "transport").write_text(
            "".join(f"{d}\t{t}\n" for d, t in self.transports.items()))
        (self.cfg / "recipient_access").write_text(
            "".join(f"{k}\t{v}\n" for k, v in self.access.items()))
        (self.cfg / "sender_access").write_text(
            "".join(f"{k}\t{v}\n" for k, v in self.sender_access.items()))
        (self.cfg / "aliases").write_text("".join(f"{k}\t{v}\n" for k, v in self.aliases.items()))  # texthash: no colon
        (self.cfg / "header_checks").write_text(
            "".join(f"/{k}/\t{v}\n" for k, v in self.header_checks.items()))

    # ----------------------------------------------------------- running --
    def master_pid(self) -> int | None:
        try:
            return int((self.queue / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _ns_prefix(self) -> list[str]:
        """Command prefix that runs inside this instance's logging namespace."""
        if self.lab.logging != "rsyslog":
            return []
        pid = self.master_pid()
        if pid and Path(f"/proc/{pid}").exists():
            return [_which("nsenter"), "-t", str(pid), "-m", "--"]
        return ns_prefix(self.lab.base / self.name / "devorig", self.syslog.sock)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a Postfix command (postfix, postsuper, postqueue ...) for this instance."""
        tool = _which(args[0]) or args[0]
        cmd = self._ns_prefix() + [tool, "-c", str(self.cfg), *args[1:]]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=CMD_TIMEOUT,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def start(self) -> None:
        if self.lab.logging == "rsyslog":
            self.syslog = SyslogDaemon(self.lab.base, self.name, self.fqdn, self.logs,
                                       forward=self.lab.forward)
            self.syslog.start()
        self.run("postfix", "start")
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: smtpd did not come up on port {self.port}")
            time.sleep(0.1)

    def stop(self) -> None:
        pid = self.master_pid()
        if pid and Path(f"/proc/{pid}").exists():
            self.run("postfix", "stop", check=False)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if Path(f"/proc/{pid}").exists():
                self.run("postfix", "abort", check=False)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.syslog:
            time.sleep(0.2)  # let the last lines reach the files
            self.syslog.stop()

    def postsuper(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("postsuper", *args, check=False)

    # ------------------------------------------------------------- logs --
    def log_text(self, style: str = "rfc3164") -> str:
        try:
            return self.logs[style].read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, regex: str, timeout: float = 60, style: str = "rfc3164") -> re.Match:
        return wait_for_text(self.name, lambda: self.log_text(style), regex, timeout)

    def wait_removed(self, queue_id: str, timeout: float = 60) -> None:
        self.wait_for(rf"\b{queue_id}: removed$", timeout)


_MONTHS = {m: i for i, m in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_TRAD = re.compile(r"^([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\S+) (.*)$")


def restamp_rfc3339(src: Path, dst: Path, fqdn: str) -> None:
    """Last resort (postlogd mode): convert an RFC 3164 log to RFC 3339 timestamps."""
    now = _dt.datetime.now().astimezone()
    out = []
    for line in src.read_text(errors="replace").splitlines():
        m = _TRAD.match(line)
        if not m:
            continue
        mon, day, hh, mm, ss, _host, rest = m.groups()
        ts = _dt.datetime(now.year, _MONTHS[mon], int(day), int(hh), int(mm), int(ss),
                          tzinfo=now.tzinfo)
        if ts > now + _dt.timedelta(days=1):
            ts = ts.replace(year=now.year - 1)
        out.append(f"{ts.isoformat()} {fqdn} {rest}\n")
    dst.write_text("".join(out))


class PostfixLab:
    """mx1 + mx2 + scripted far end + content filters + Dovecot, as a context manager.

    The content filters are the session's real amavisd-new and rspamd (:mod:`realmta.filters`,
    when installed): mx1 FILTERs ``filtered.example.test`` to amavis (one port per policy bank)
    and calls rspamd as a milter on a third smtpd (:attr:`mx1_milter_port`); the look-alike
    filter (:class:`~realmta.smtpserver.ContentFilterServer`) remains for ``noid-filter@`` (a
    reply without the re-injection's queue ID, which the real amavis never gives) and stands in
    for amavis when it is not installed.

    >>> with PostfixLab() as lab:
    ...     qid = lab.send("mx1", "a@example.org", ["ok@ext.example.test"])[0]
    """

    def __init__(self, base: str | os.PathLike | None = None, logging: str | None = None,
                 keep: bool | None = None, forward: tuple[str, int] | None = None) -> None:
        from .smtpserver import ContentFilterServer, ScriptedSMTPServer
        reason = postfix_available()
        if reason:
            raise RuntimeError(reason)
        logging = logging or os.environ.get("LOGTRACE_MTA_LOGGING") or ""
        if not logging:
            logging = "rsyslog" if _rsyslog_mode_possible() is None else "postlogd"
        elif logging == "rsyslog" and (why := _rsyslog_mode_possible()):
            raise RuntimeError(f"rsyslog logging mode unavailable: {why}")
        self.logging = logging
        if forward and logging != "rsyslog":
            raise RuntimeError("forwarding to a log host needs LOGTRACE_MTA_LOGGING=rsyslog")
        #: (ip, port) of a :class:`LogHost` every instance's rsyslogd forwards mail.* to
        self.forward = forward
        self.keep = keep if keep is not None else os.environ.get("LOGTRACE_MTA_KEEP") == "1"
        # Short path: unix socket paths are limited to 107 bytes.
        self.base = Path(tempfile.mkdtemp(prefix="ltmta-", dir=base or "/tmp"))
        self.base.chmod(0o755)
        self.logdir = self.base / "log"
        self.logdir.mkdir(mode=0o755)
        self.sink = ScriptedSMTPServer()
        # the real content filters (amavisd-new, rspamd): shared by the session's labs, so mx1's
        # re-injection port is theirs (amavis forwards there)
        from .filters import shared_filters
        self.filters = shared_filters() if os.environ.get("LOGTRACE_LAB_FILTERS", "1") != "0" else None
        amavis = self.filters.amavis if self.filters is not None and not self.filters.error else None
        rspamd = self.filters.rspamd if self.filters is not None and not self.filters.error else None
        self.mx1_port, self.mx2_port = free_port(), free_port()
        self.mx1_reinject = amavis.reinject_port if amavis is not None else free_port()
        #: mx1's smtpd that calls rspamd as a milter (None: no rspamd)
        self.mx1_milter_port = free_port() if rspamd is not None else None
        self.filter = ContentFilterServer(reinject_port=self.mx1_reinject)
        #: FILTER targets on mx1: the real amavis' policy-bank ports (the imitation when amavis is missing)
        self.amavis = amavis
        self.filter_ports = dict(amavis.ports) if amavis is not None else {b: self.filter.port for b in ("port", "bounce", "passes", "drop")}
        # the last mile: mx2 delivers @mbox.example.test over LMTP to a real Dovecot (when installed)
        from .dovecot import DOMAIN as MBOX, DovecotLab, dovecot_available
        # Sieve redirects re-enter the lab's own mx1 (submission_host), never the system's MTA
        self.dovecot = (DovecotLab(self.base, self.logdir, submission_host=f"127.0.0.1:{self.mx1_port}")
                        if dovecot_available() is None else None)
        lmtp = {MBOX: f"lmtp:unix:{self.dovecot.socket}"} if self.dovecot else {}
        sink = f"smtp:[127.0.0.1]:{self.sink.port}"
        common = {"ext.example.test": sink, "example.org": sink,
                  "filtered.example.test": sink, "rspamd.example.test": sink}
        self.hosts = {
            "mx1": PostfixInstance(
                self, "mx1", "mx1.example.test", self.mx1_port,
                transports={**common, "via-mx2.example.test": f"smtp:[127.0.0.1]:{self.mx2_port}",
                            "mbox.example.test": f"smtp:[127.0.0.1]:{self.mx2_port}"},
                access={"blocked@ext.example.test": "550 5.7.1 Recipient blocked by local policy",
                        "blocked-partial@ext.example.test": "550 5.7.1 Recipient blocked by local policy",
                        "filtered.example.test": f"FILTER amavis:[127.0.0.1]:{self.filter_ports['port']}",
                        # the look-alike stays for the one reply real amavis never gives (no re-injection ID)
                        "noid-filter@filtered.example.test": f"FILTER amavis:[127.0.0.1]:{self.filter.port}",
                        "bounce-filter@filtered.example.test": f"FILTER amavis:[127.0.0.1]:{self.filter_ports['bounce']}",
                        "pass-filter@filtered.example.test": f"FILTER amavis:[127.0.0.1]:{self.filter_ports['passes']}",
                        "spam-discard@filtered.example.test": f"FILTER amavis:[127.0.0.1]:{self.filter_ports['drop']}"},
                reinject_port=self.mx1_reinject, milter_port=self.mx1_milter_port,
                milter=f"inet:127.0.0.1:{rspamd.milter_port}" if rspamd is not None else None,
                header_checks={r"^Subject: logtrace scenario hold_deleted$": "HOLD held for review",
                               r"^Subject: logtrace scenario hold_released$": "HOLD held for review",
                               r"^Subject: logtrace scenario header_reject$": "REJECT 5.7.1 message content rejected"},
                sender_access={"spammer@bad.example.test": "REJECT 5.7.1 Sender blocked by local policy"},
                # local(8) forwards these; the far end / mx2 then refuses the new address
                aliases={"fwd-bounce": "unknown-fwd@ext.example.test", "fwd-relay": "unknown-fwd@via-mx2.example.test"}),
            # mx2 has a 1s queue lifetime: anything it cannot deliver at once expires.
            "mx2": PostfixInstance(
                self, "mx2", "mx2.example.test", self.mx2_port,
                transports={**common, "via-mx2.example.test": sink, **lmtp},
                queue_lifetime="1s"),
        }
        self._started: list = []

    # hostnames as they appear in each log style
    def hostname(self, name: str, style: str) -> str:
        fqdn = self.hosts[name].fqdn
        return fqdn.split(".")[0] if style == "rfc3164" else fqdn

    def log_paths(self, style: str, names=("mx1", "mx2")) -> list[str]:
        return [str(self.hosts[n].logs[style]) for n in names]

    def start(self) -> "PostfixLab":
        try:
            self.sink.start(); self._started.append(self.sink)
            self.filter.start(); self._started.append(self.filter)
            if self.dovecot is not None:
                self.dovecot.start(); self._started.append(self.dovecot)
            for h in self.hosts.values():
                self._started.append(h)
                h.start()
        except BaseException:
            self.stop()
            raise
        return self

    def finalize_logs(self) -> None:
        """Make sure both styles exist on disk (postlogd mode: re-stamp)."""
        if self.logging == "postlogd":
            for h in self.hosts.values():
                if h.logs["rfc3164"].exists():
                    restamp_rfc3339(h.logs["rfc3164"], h.logs["rfc3339"], h.fqdn)

    def stop(self) -> None:
        for obj in reversed(self._started):
            try:
                obj.stop()
            except Exception:  # noqa: BLE001 - best-effort teardown
                pass
        self._started.clear()
        self.finalize_logs()

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "PostfixLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.cleanup()

    # ----------------------------------------------------------- sending --
    def send(self, host: str, sender: str, rcpts: list[str], subject: str = "test",
             message_id: str | None = None, body: str = "Hello.\n", port: int | None = None,
             attachment: tuple[str, bytes] | None = None
             ) -> tuple[str | None, dict[str, tuple[int, str]], tuple[int, str] | None]:
        """Inject one message into ``host`` (or its smtpd on ``port``); return (queue_id, rcpt_replies, data_reply)."""
        return smtp_send(port or self.hosts[host].port, sender, rcpts, subject=subject, message_id=message_id, body=body,
                         attachment=attachment)
