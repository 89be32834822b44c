"""A private, loopback-only Exim instance for tests (optionally next to real Postfix).

How Exim gets onto a host that already has Postfix
--------------------------------------------------
Debian's ``exim4-*`` and ``postfix`` packages conflict (both provide
``mail-transport-agent``), so ``.ci/install-mta.sh`` does not ``apt-get install``
Exim.  It runs ``apt-get download exim4-daemon-light exim4-base exim4-config`` and
unpacks the ``.deb`` files with ``dpkg -x`` into ``/opt/exim4`` (no dpkg
registration, no maintainer scripts, nothing conflicts).  Two things the
maintainer scripts / dependencies would have provided are done by hand there:

* the library dependencies that a Postfix host may lack (``libidn12`` on a stock
  Debian 12 image) are ``apt-get install``-ed (plain libraries, no conflict);
* the ``Debian-exim`` system user/group: the Debian binary has ``EXIM_USER``
  compiled in *by name* and refuses to start at all (even ``-bV``) when the name
  cannot be resolved (``failed to find uid for user name "Debian-exim"``).

Binary lookup order: ``$LOGTRACE_EXIM`` (path to the exim binary),
``/opt/exim4/usr/sbin/exim4``, ``exim4``/``exim`` on ``$PATH`` / ``/usr/sbin``.

Running it
----------
The harness runs as root: ``exim4 -C <our config> -bdf -q2s`` (foreground daemon,
queue runner every 2 s, own process group so teardown can signal exactly the
processes it started).  ``-C`` with a file that is not in the compiled-in
``TRUSTED_CONFIG_LIST`` (``/etc/exim4/trusted_configs``) makes Exim drop its
privileges *unless the caller is root*; as root it keeps them, and the
re-executed delivery processes get ``-C`` passed along.  The config file must be
owned by root and not world-writable.  ``exim_path`` must point at the unpacked
binary, otherwise Exim re-execs the compiled-in ``/usr/sbin/exim4`` for
deliveries.  ``keep_environment =`` and ``tls_advertise_hosts =`` keep two
multi-line start-up warnings out of the main log.

Exim writes its own main log (``log_file_path = <logdir>/<name>.%slog`` ->
``exim1.mainlog``, ``exim1.rejectlog``, ``exim1.paniclog``); no syslog is needed.
Lines look like::

    2026-11-22 19:53:19.682 [15410] 1xVDcl-00040X-1p => ok@ext.example.test R=far_end T=remote_smtp H=127.0.0.1 [127.0.0.1]:40123 C="250 2.0.0 Ok: queued as 56A917E88D" QT=0.111s DT=0.088s

(``log_selector = +smtp_confirmation +received_recipients +pid +millisec
+queue_time +deliver_time +outgoing_port``).  The main log carries no host name.

Central syslog (``EximLab(central=True)``)
-----------------------------------------
A log host (:class:`realmta.postfix.LogHost`: one rsyslogd on a free 127.0.0.1
TCP port) writes ``log/central.log`` (RFC 3164, short host names) and
``log/central.rfc3339.log`` (RFC 3339, FQDN).  Postfix mx1/mx2's rsyslogds
forward their ``mail.*`` messages to it; Exim logs to syslog as well as to its
main log (``log_file_path = syslog : <logdir>/exim1.%slog``,
``syslog_timestamp = false``, ``syslog_processname = exim``), inside a mount
namespace whose ``/dev/log`` is its own rsyslogd (``exim1`` /
``exim1.example.test``: ``log/exim1.log``, ``log/exim1.rfc3339.log``), which
forwards to the log host too.  Exim's syslog lines keep ``[pid]`` in the body
(``+pid``), and with the default ``syslog_duplication`` a reject is logged twice
(main and reject log)::

    Nov 25 17:23:38 exim1 exim[28027]: [28027] 1xWGiX-0007I2-34 => ok-delivered@ext.example.test R=route0 ...

Routing (``manualroute`` to IP literals, ``self = send`` + ``allow_localhost`` on
the transport because the targets are on the loopback interface):

* ``ext.example.test``, ``example.org``, ``via-exim.example.test`` -> the scripted
  far-end server (``tests/realmta/smtpserver.py``), so bounces to
  ``*@example.org`` senders are delivered there too;
* ``via-postfix.example.test`` -> Postfix ``mx1``'s smtpd (when a PostfixLab runs),
  and mx1 routes ``via-exim.example.test`` to Exim and ``via-postfix.example.test``
  to the far end.
* ``mbox.example.test`` (when Dovecot is installed) -> an ``accept`` router
  ``dovecot_user`` and a ``driver = lmtp`` transport ``dovecot_lmtp`` on the LMTP unix
  socket of a real Dovecot (:class:`realmta.dovecot.DovecotLab`): the PostfixLab's own
  Dovecot when the lab runs with Postfix (one Dovecot per lab), else one the EximLab starts
  itself. Exim logs the local part, then the address, and Dovecot's session ID in ``C=``::

    ... 1xWPGk-00032L-0F => junk <junk@mbox.example.test> R=dovecot_user T=dovecot_lmtp C="250 2.0.0 <junk@mbox.example.test> mAgIBwKaB2ugLQAAg+zDdQ Saved" QT=0.046s DT=0.010s

Retries: ``* * F,<cutoff>,1s`` (default cutoff 10 s), so a greylisted recipient
is retried by the next queue run and an always-4xx recipient is failed
(``** ... retry timeout exceeded``) after ~10-15 s.  RCPT ``blocked*`` is refused
by the RCPT ACL with ``550 5.7.1``.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .postfix import (LogHost, SyslogDaemon, _rsyslog_mode_possible, _which, free_port, ns_prefix,
                      postfix_available, terminate)

CMD_TIMEOUT = 30
OPT_EXIM = "/opt/exim4/usr/sbin/exim4"
#: a stamped Exim main log line (+millisec +pid)
from .common import smtp_send, wait_for_text  # noqa: E402  (re-exported for the scenarios)

LINE_RE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[\d+\] "
#: an Exim message id (pre-4.97 6-6-2 and 4.97+ 6-11-4)


def find_exim() -> str | None:
    env = os.environ.get("LOGTRACE_EXIM")
    if env:
        return env if os.access(env, os.X_OK) else None
    cands = [OPT_EXIM]
    for name in ("exim4", "exim"):
        cands += [p for p in (shutil.which(name),) if p]
        cands += [f"/usr/sbin/{name}", f"/usr/local/sbin/{name}"]
    for p in cands:
        if os.access(p, os.X_OK) and not os.path.isdir(p):
            # Postfix's /usr/sbin/sendmail is no exim; exim4/exim names only.
            return p
    return None


def _exim_settings(binary: str) -> dict[str, str]:
    r = subprocess.run([binary, "-C", "/dev/null", "-bP", "exim_user", "exim_group"],
                       capture_output=True, text=True, timeout=CMD_TIMEOUT, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError((r.stdout + r.stderr).strip() or f"exit {r.returncode}")
    out = dict(re.findall(r"^(\w+) = (.*)$", r.stdout, re.M))
    if "exim_user" not in out:
        raise RuntimeError(f"unexpected -bP output: {r.stdout!r} {r.stderr!r}")
    return out


def exim_available() -> str | None:
    """Return None when Exim can be used, else a reason string."""
    binary = find_exim()
    if not binary:
        return "exim is not installed (run: bash .ci/install-mta.sh; it unpacks Exim into /opt/exim4)"
    if os.geteuid() != 0:
        return "the real-Exim harness must run as root"
    try:
        _exim_settings(binary)
    except (OSError, subprocess.TimeoutExpired, RuntimeError) as e:
        return f"{binary} does not run: {e} (run: bash .ci/install-mta.sh)"
    return None


def exim_version(binary: str | None = None) -> str:
    binary = binary or find_exim()
    try:
        r = subprocess.run([binary, "-C", "/dev/null", "-bV"], capture_output=True, text=True,
                           timeout=CMD_TIMEOUT, stdin=subprocess.DEVNULL)
        m = re.search(r"Exim version (\S+)", r.stdout)
        return m.group(1) if m else "?"
    except (OSError, subprocess.TimeoutExpired, TypeError):
        return "?"


class EximInstance:
    """One Exim daemon: own spool, own logs, own config, one 127.0.0.1 port."""

    def __init__(self, base: Path, logdir: Path, name: str, fqdn: str, port: int,
                 routes: dict[str, tuple[str, int]], retry_cutoff: str = "10s",
                 queue_interval: str = "2s", binary: str | None = None,
                 syslog: SyslogDaemon | None = None,
                 lmtp: tuple[str, Path] | None = None) -> None:
        self.binary = binary or find_exim()
        if not self.binary:
            raise RuntimeError("exim not found")
        st = _exim_settings(self.binary)
        self.user = st["exim_user"]
        self.group = st.get("exim_group") or self.user
        self.name, self.fqdn, self.port = name, fqdn, port
        self.routes = routes                 # domain -> (ip, port)
        #: (domain, Dovecot's LMTP unix socket): that domain is delivered by the lmtp transport
        self.lmtp = lmtp
        self.retry_cutoff, self.queue_interval = retry_cutoff, queue_interval
        self.dir = base / name
        self.spool = self.dir / "spool"
        self.spool.mkdir(parents=True)
        self.dir.chmod(0o755)
        shutil.chown(self.spool, self.user, self.group)
        self.logdir = logdir
        self.mainlog = logdir / f"{name}.mainlog"
        self.rejectlog = logdir / f"{name}.rejectlog"
        self.paniclog = logdir / f"{name}.paniclog"
        # The log directory is root's (shared with Postfix's rsyslog files) and
        # Exim writes as exim_user: pre-create the files it appends to.
        for f in (self.mainlog, self.rejectlog):
            f.touch(mode=0o644)
            shutil.chown(f, self.user, self.group)
        #: when set, Exim also logs through syslog(3): it runs in a mount namespace
        #: whose /dev/log is this rsyslogd's socket
        self.syslog = syslog
        self.conf = self.dir / "exim.conf"
        self.pidfile = self.dir / "exim.pid"
        self.proc: subprocess.Popen | None = None
        self._write_config()

    # ------------------------------------------------------------ config --
    def _write_config(self) -> None:
        by_target: dict[tuple[str, int], list[str]] = {}
        for dom, target in self.routes.items():
            by_target.setdefault(target, []).append(dom)
        routers = ""
        for i, ((ip, port), doms) in enumerate(sorted(by_target.items(), key=lambda kv: kv[0][1])):
            routers += f"""\
route{i}:
  driver = manualroute
  domains = {' : '.join(doms)}
  route_list = * {ip}::{port}
  transport = remote_smtp
  self = send
  no_more

"""
        lmtp_transport = ""
        if self.lmtp:
            dom, sock = self.lmtp
            routers += f"""\
dovecot_user:
  driver = accept
  domains = {dom}
  transport = dovecot_lmtp
  no_more

"""
            lmtp_transport = f"""
dovecot_lmtp:
  driver = lmtp
  socket = {sock}
  user = {self.user}
  batch_max = 1
  timeout = 30s
"""
        log_path = f"{self.logdir}/{self.name}.%slog"
        if self.syslog:
            log_path = f"syslog : {log_path}\nsyslog_timestamp = false\nsyslog_processname = exim"
        self.conf.write_text(f"""\
# generated by tests/realmta/exim.py
primary_hostname = {self.fqdn}
qualify_domain = example.test
exim_path = {self.binary}
spool_directory = {self.spool}
log_file_path = {log_path}
pid_file_path = {self.pidfile}
exim_user = {self.user}
exim_group = {self.group}
trusted_users = root
never_users =
deliver_drop_privilege = true
local_interfaces = 127.0.0.1
daemon_smtp_ports = {self.port}
keep_environment =
tls_advertise_hosts =
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
smtp_banner = $smtp_active_hostname ESMTP Exim $version_number $tod_full
log_selector = +smtp_confirmation +received_recipients +pid +millisec +queue_time +deliver_time +outgoing_port
acl_smtp_rcpt = acl_check_rcpt
timeout_frozen_after = 1m
ignore_bounce_errors_after = 10s
delay_warning =
retry_interval_max = 2s
queue_run_max = 5
remote_max_parallel = 4
smtp_accept_max = 50

begin acl

acl_check_rcpt:
  deny    local_parts = ^blocked
          message = 5.7.1 Recipient blocked by local policy
  accept  hosts = 127.0.0.0/8
  deny    message = 5.7.1 relay not permitted

begin routers

{routers}begin transports

remote_smtp:
  driver = smtp
  allow_localhost
  hosts_override
  connect_timeout = 5s
  command_timeout = 30s
  data_timeout = 60s
  final_timeout = 60s
{lmtp_transport}
begin retry

* * F,{self.retry_cutoff},1s

begin rewrite
""")
        os.chown(self.conf, 0, 0)
        self.conf.chmod(0o644)

    # ----------------------------------------------------------- running --
    def exim(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the exim binary with this instance's config (-bpc, -Mrm, -M ...)."""
        cmd = [*self._ns_enter(), self.binary, "-C", str(self.conf), *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=CMD_TIMEOUT,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def _ns_enter(self) -> list[str]:
        """Prefix that runs a command in the running daemon's logging namespace (if any)."""
        if self.syslog and self.proc and self.proc.poll() is None:
            return [_which("nsenter"), "-t", str(self.proc.pid), "-m", "--"]
        return []

    def start(self) -> None:
        out = open(self.dir / "daemon.out", "wb")
        # unshare and sh exec into exim: the Popen pid is the daemon's.
        prefix = ns_prefix(self.dir / "devorig", self.syslog.sock) if self.syslog else []
        self.proc = subprocess.Popen(
            [*prefix, self.binary, "-C", str(self.conf), "-bdf", f"-q{self.queue_interval}",
             "-oX", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
        out.close()
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: exim exited with {self.proc.returncode}: "
                                   + self._diag())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: exim did not come up on port {self.port}: "
                                   + self._diag())
            time.sleep(0.1)

    def _diag(self) -> str:
        parts = []
        for p in (self.dir / "daemon.out", self.paniclog, self.mainlog):
            try:
                parts.append(f"{p.name}: {p.read_text(errors='replace')[-1500:]}")
            except OSError:
                pass
        return "\n".join(parts)

    def queue_count(self) -> int:
        r = self.exim("-bpc", check=False)
        try:
            return int(r.stdout.strip())
        except ValueError:
            return -1

    def stop(self) -> None:
        """SIGTERM the daemon, then whatever is left of its process group."""
        if not self.proc:
            return
        pgid = self.proc.pid  # start_new_session: the daemon leads its own group
        terminate(self.proc)
        for sig, pause in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + pause
            while time.monotonic() < deadline:  # let queue runners/deliveries finish
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
        self.proc = None

    # ------------------------------------------------------------- logs --
    def log_text(self) -> str:
        try:
            return self.mainlog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, regex: str, timeout: float = 60) -> re.Match:
        return wait_for_text(self.name, self.log_text, regex, timeout)

    def wait_completed(self, exim_id: str, timeout: float = 60) -> None:
        self.wait_for(LINE_RE + rf"{re.escape(exim_id)} Completed", timeout)


class EximLab:
    """Exim ``exim1`` + scripted far end (+ Postfix mx1/mx2 when available).

    With Postfix (``with_postfix=None``: when :func:`postfix_available`), the
    far end, base and log directories are the :class:`PostfixLab`'s, and mx1
    gets two extra transport entries (``via-exim.example.test`` -> Exim,
    ``via-postfix.example.test`` -> far end) before it starts.
    """

    SINK_DOMAINS = ("ext.example.test", "example.org", "via-exim.example.test")

    def __init__(self, with_postfix: bool | None = None, base: str | os.PathLike | None = None,
                 keep: bool | None = None, retry_cutoff: str = "10s", central: bool = False) -> None:
        from .smtpserver import ScriptedSMTPServer
        reason = exim_available()
        if reason:
            raise RuntimeError(reason)
        if with_postfix is None:
            with_postfix = postfix_available() is None
        self.keep = keep if keep is not None else os.environ.get("LOGTRACE_MTA_KEEP") == "1"
        if central and (why := _rsyslog_mode_possible()):
            raise RuntimeError(f"central syslog lab needs rsyslogd + mount namespaces: {why}")
        self.exim_port = free_port()
        self.postfix = None
        self.loghost: LogHost | None = None
        if with_postfix:
            from .postfix import PostfixLab
            self.postfix = PostfixLab(base=base, keep=self.keep,
                                      logging="rsyslog" if central else None)
            self.base, self.logdir, self.sink = self.postfix.base, self.postfix.logdir, self.postfix.sink
            mx1 = self.postfix.hosts["mx1"]
            mx1.transports.update({
                "via-exim.example.test": f"smtp:[127.0.0.1]:{self.exim_port}",
                "via-postfix.example.test": f"smtp:[127.0.0.1]:{self.sink.port}",
            })
            mx1._write_config()  # noqa: SLF001 - re-render with the extra transports
        else:
            self.base = Path(tempfile.mkdtemp(prefix="ltexim-", dir=base or "/tmp"))
            self.base.chmod(0o755)
            self.logdir = self.base / "log"
            self.logdir.mkdir(mode=0o755)
            self.sink = ScriptedSMTPServer()
        exim_syslog = None
        if central:
            self.loghost = LogHost(self.base, self.logdir)
            if self.postfix:
                self.postfix.forward = self.loghost.target
            exim_syslog = SyslogDaemon(self.base, "exim1", "exim1.example.test",
                                       {"rfc3164": self.logdir / "exim1.log",
                                        "rfc3339": self.logdir / "exim1.rfc3339.log"},
                                       forward=self.loghost.target)
            self.loghost.sources = [exim_syslog.logs["rfc3164"]]
            if self.postfix:
                self.loghost.sources += [h.logs["rfc3164"] for h in self.postfix.hosts.values()]
        # the last mile: @mbox.example.test goes over LMTP to a real Dovecot (when installed) —
        # the Postfix lab's own when there is one (one Dovecot per lab), else the Exim lab's
        from .dovecot import DOMAIN as MBOX, DovecotLab, dovecot_available
        self.own_dovecot = False
        if self.postfix:
            self.dovecot = self.postfix.dovecot
        elif dovecot_available() is None:
            self.dovecot = DovecotLab(self.base, self.logdir, submission_host=f"127.0.0.1:{self.exim_port}")
            self.own_dovecot = True
        else:
            self.dovecot = None
        routes = {d: ("127.0.0.1", self.sink.port) for d in self.SINK_DOMAINS}
        if self.postfix:
            routes["via-postfix.example.test"] = ("127.0.0.1", self.postfix.mx1_port)
        self.exim = EximInstance(self.base, self.logdir, "exim1", "exim1.example.test",
                                 self.exim_port, routes, retry_cutoff=retry_cutoff,
                                 syslog=exim_syslog,
                                 lmtp=(MBOX, self.dovecot.socket) if self.dovecot else None)
        self._started: list = []

    def start(self) -> "EximLab":
        try:
            if self.loghost:  # first up, last down: it must receive everything
                self._started.append(self.loghost)
                self.loghost.start()
            if self.postfix:
                self._started.append(self.postfix)
                self.postfix.start()
            else:
                self.sink.start()
                self._started.append(self.sink)
            if self.own_dovecot:
                self._started.append(self.dovecot)
                self.dovecot.start()
            if self.exim.syslog:
                self._started.append(self.exim.syslog)
                self.exim.syslog.start()
            self._started.append(self.exim)
            self.exim.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for obj in reversed(self._started):
            try:
                obj.stop()
            except Exception:  # noqa: BLE001 - best-effort teardown
                pass
        self._started.clear()

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "EximLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.cleanup()

    def send(self, host: str, sender: str, rcpts: list[str], subject: str = "test",
             message_id: str | None = None):
        """Inject into ``exim1`` or a Postfix instance (``mx1``); see :func:`smtp_send`."""
        if host == "exim1":
            port = self.exim_port
        else:
            port = self.postfix.hosts[host].port
        return smtp_send(port, sender, rcpts, subject=subject, message_id=message_id)

    def log_paths(self, hosts=("exim1",), style: str = "rfc3164") -> list[str]:
        out = []
        for h in hosts:
            if h == "exim1":
                out.append(str(self.exim.mainlog))
            else:
                out.append(str(self.postfix.hosts[h].logs[style]))
        return out

    def central_path(self, style: str = "rfc3164") -> str:
        """The log host's file (``central=True``): every host's mail.* syslog lines."""
        return str(self.loghost.logs[style])

    def text(self, host: str, style: str = "rfc3164") -> str:
        if host == "exim1":
            return self.exim.log_text()
        return self.postfix.hosts[host].log_text(style)
