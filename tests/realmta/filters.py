"""Real content filters for the Postfix lab, started once per test session.

* **amavisd-new** (Debian's ``amavisd-new`` with SpamAssassin in-process) as Postfix's
  ``content_filter``. It listens on four loopback ports, one policy bank each, so that one
  GTUBE message meets each destiny a site configures (``$interface_policy``):

  ==========  ============================  =======================================
  port        policy bank                   spam / banned destiny
  ==========  ============================  =======================================
  ``port``    (built-in)                    D_DISCARD + quarantine ``spam-…``/``banned-…``
  ``bounce``  ``BOUNCESPAM``                D_BOUNCE (amavis sends the DSN), no quarantine
  ``passes``  ``PASSSPAM``                  D_PASS (tagged, re-injected)
  ``drop``    ``DISCARDSPAM``               D_DISCARD, no quarantine
  ==========  ============================  =======================================

  A banned file name (``*.exe``) is BANNED. There are no virus scanners (no offline
  signatures): no virus outcomes. SpamAssassin runs local tests only (``dns_available no``,
  no Bayes, no ``sa-update``: the rules Debian ships). Re-injection goes to
  :attr:`FilterSet.reinject_port`, which each :class:`~realmta.postfix.PostfixLab`'s mx1 listens on.
* **rspamd** (Debian's ``rspamd`` 3.x) as a milter (proxy worker, self-scan), with every
  DNS-based or network module off and hyperscan disabled (no database compile at start, no
  stalled scans on two cores). GTUBE is rejected at SMTP time; a recipient listed in
  ``discard.map`` makes rspamd answer *discard* (a multimap prefilter action).

Both log as on a real mail host: amavis through syslog into ``filters.log`` (a private
rsyslogd whose host name is mx1's: the lines sit beside mx1's own in a merged view),
rspamd into its own log file ``rspamd.log`` (its native format). The daemons are shared by
every lab of the session (:func:`shared_filters`) and stopped at interpreter exit.
"""
from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: amavis' startup (SpamAssassin compiles its rules) on two busy cores
START_TIMEOUT = 120.0
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def amavis_available() -> str | None:
    if not os.access("/usr/sbin/amavisd", os.X_OK):
        return "amavisd-new is not installed (apt-get install amavisd-new spamassassin)"
    try:
        pwd.getpwnam("amavis")
    except KeyError:
        return "the amavis user is missing (apt-get install amavisd-new)"
    if subprocess.run(["perl", "-MMail::SpamAssassin", "-e", "1"], capture_output=True).returncode != 0:
        return "SpamAssassin's Perl modules are missing (apt-get install spamassassin)"
    if os.geteuid() != 0:
        return "the content-filter lab must run as root"
    return None


def rspamd_available() -> str | None:
    if shutil.which("rspamd") is None:
        return "rspamd is not installed (apt-get install rspamd)"
    try:
        pwd.getpwnam("_rspamd")
    except KeyError:
        return "the _rspamd user is missing (apt-get install rspamd)"
    if os.geteuid() != 0:
        return "the content-filter lab must run as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} (exit {proc.poll()}): {tail}")
        time.sleep(0.2)


class Amavis:
    """One amavisd-new with four policy-bank ports, logging through ``syslog``."""

    BANKS = ("port", "bounce", "passes", "drop")

    def __init__(self, base: Path, reinject_port: int) -> None:
        self.dir = base / "amavis"
        self.etc = base / "amavis-etc"  # root's: amavis refuses a config it could write
        for sub in ("", "tmp", "db", "var", "quarantine"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.etc / "sa").mkdir(parents=True, exist_ok=True)
        self.ports = {b: _free_port() for b in self.BANKS}
        self.reinject_port = reinject_port
        self.conf = self.etc / "amavisd.conf"
        self.proc: subprocess.Popen | None = None
        (self.etc / "sa" / "local.cf").write_text(
            "dns_available no\nuse_bayes 0\nbayes_auto_learn 0\nskip_rbl_checks 1\nuse_razor2 0\nuse_pyzor 0\n"
            "score MISSING_MID 0\n")
        for pre in Path("/etc/spamassassin").glob("*.pre"):  # the plugin loaders (Check, …) live beside local.cf
            shutil.copy(pre, self.etc / "sa" / pre.name)
        p = self.ports
        self.conf.write_text(f"""\
# generated by tests/realmta/filters.py
use strict;
$MYHOME = '{self.dir}';
$TEMPBASE = "$MYHOME/tmp";
$db_home = "$MYHOME/db";
$helpers_home = "$MYHOME/var";
$pid_file = "$MYHOME/amavisd.pid";
$lock_file = "$MYHOME/amavisd.lock";
$QUARANTINEDIR = "$MYHOME/quarantine";
$quarantine_subdir_levels = undef;
$daemon_user = 'amavis';
$daemon_group = 'amavis';
$myhostname = 'mx1.example.test';
$mydomain = 'example.test';
@local_domains_maps = (['.example.test', '.example.org']);
@mynetworks = qw(127.0.0.0/8);
$max_servers = 2;
$child_timeout = 120;
$DO_SYSLOG = 1;
$syslog_ident = 'amavis';
$syslog_facility = 'mail';
$log_level = 0;
$log_recip_templ = undef;  # Debian's default: no per-recipient summary line
$enable_db = 0;
$enable_global_cache = 0;
$enable_dkim_verification = 0;
$enable_dkim_signing = 0;
$inet_socket_bind = '127.0.0.1';
$inet_socket_port = [{p['port']}, {p['bounce']}, {p['passes']}, {p['drop']}];
$interface_policy{{'{p['bounce']}'}} = 'BOUNCESPAM';
$interface_policy{{'{p['passes']}'}} = 'PASSSPAM';
$interface_policy{{'{p['drop']}'}} = 'DISCARDSPAM';
$forward_method = 'smtp:[127.0.0.1]:{reinject_port}';
$notify_method = $forward_method;
@bypass_virus_checks_maps = (1);
@av_scanners = ();
@av_scanners_backup = ();
$sa_local_tests_only = 1;
$sa_siteconfigpath = '{self.etc}/sa';
$sa_tag_level_deflt = -999;
$sa_tag2_level_deflt = 5;
$sa_kill_level_deflt = 5;
$sa_dsn_cutoff_level = 9999;
$sa_crediblefrom_dsn_cutoff_level = 9999;
$final_spam_destiny = D_DISCARD;
$final_banned_destiny = D_DISCARD;
$final_bad_header_destiny = D_PASS;
$spam_quarantine_method = 'local:spam-%m';
$banned_files_quarantine_method = 'local:banned-%m';
$spam_quarantine_to = 'spam-quarantine';
$banned_quarantine_to = 'banned-quarantine';
$warnbannedsender = 0;
$warnbannedrecip = 0;
@spam_lovers_maps = (['spam-lover@filtered.example.test']);  # a mixed verdict: amavis splits it per recipient
$banned_filename_re = new_RE(qr'.\\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$'i);
$policy_bank{{'BOUNCESPAM'}} = {{
  final_spam_destiny => D_BOUNCE, final_banned_destiny => D_BOUNCE,
  spam_quarantine_to_maps => [\\undef], banned_quarantine_to_maps => [\\undef],
}};
$policy_bank{{'PASSSPAM'}} = {{
  final_spam_destiny => D_PASS, final_banned_destiny => D_PASS,
  spam_quarantine_to_maps => [\\undef], banned_quarantine_to_maps => [\\undef],
}};
$policy_bank{{'DISCARDSPAM'}} = {{
  final_spam_destiny => D_DISCARD, final_banned_destiny => D_DISCARD,
  spam_quarantine_to_maps => [\\undef], banned_quarantine_to_maps => [\\undef],
}};
1;
""")
        for d in (self.dir, *self.dir.rglob("*")):
            shutil.chown(d, "amavis", "amavis")

    def start(self, prefix: list[str]) -> None:
        out = self.dir / "stdout.log"
        self.proc = subprocess.Popen([*prefix, "/usr/sbin/amavisd", "-c", str(self.conf), "foreground"],
                                     stdin=subprocess.DEVNULL, stdout=open(out, "wb"), stderr=subprocess.STDOUT)
        for port in self.ports.values():
            _wait_port(port, self.proc, "amavisd", out)

    def stop(self) -> None:
        _terminate(self.proc)


class Rspamd:
    """One rspamd: a milter (proxy worker, self-scan) and its own log file."""

    def __init__(self, base: Path, logdir: Path) -> None:
        self.dir = base / "rspamd"
        self.local = self.dir / "local.d"
        self.override = self.dir / "override.d"
        for d in (self.dir, self.local, self.override, self.dir / "db", self.dir / "run"):
            d.mkdir(parents=True, exist_ok=True)
        self.milter_port = _free_port()
        self.normal_port = _free_port()
        self.log = logdir / "rspamd.log"
        self.proc: subprocess.Popen | None = None
        self.discard_map = self.dir / "discard.map"
        self.discard_map.write_text("discard@rspamd.example.test\n")
        w = self.local
        (w / "options.inc").write_text(
            "disable_hyperscan = true;\nlocal_addrs = [];\ndns { nameserver = [\"127.0.0.1:1\"]; timeout = 0.1s; retransmits = 1; }\n"
            "check_all_filters = false;\n")
        (w / "logging.inc").write_text(f'type = "file";\nfilename = "{self.log}";\nlevel = "notice";\n')
        (self.override / "worker-normal.inc").write_text(f'bind_socket = "127.0.0.1:{self.normal_port}";\ncount = 1;\n')
        (self.override / "worker-proxy.inc").write_text(
            f'milter = yes;\ntimeout = 120s;\nbind_socket = "127.0.0.1:{self.milter_port}";\ncount = 1;\n'
            'upstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n')
        (self.override / "worker-controller.inc").write_text('enabled = false;\n')
        (self.override / "worker-fuzzy.inc").write_text('enabled = false;\n')
        # network and DNS checks off: nothing may wait for a resolver or a map URL
        for mod in ("rbl", "spf", "dkim", "dmarc", "arc", "asn", "dkim_signing", "fuzzy_check", "greylist", "ratelimit",
                    "neural", "history_redis", "replies", "reputation", "url_redirector", "phishing", "hfilter",
                    "mx_check", "emails", "whitelist", "maillist", "mid", "dcc", "clickhouse", "metadata_exporter",
                    "external_services", "antivirus", "milter_headers", "once_received", "trie", "rspamd_update",
                    "bayes_expiry", "elastic", "p0f", "known_senders", "spamassassin", "mime_types", "force_actions",
                    "multimap", "ip_score", "dynamic_conf", "fuzzy_collect", "http_headers", "settings"):
            if mod != "multimap":
                (self.override / f"{mod}.conf").write_text("enabled = false;\n")
        (self.override / "multimap.conf").write_text(
            f'RCPT_DISCARD {{\n  type = "rcpt";\n  map = "file://{self.discard_map}";\n  prefilter = true;\n'
            '  action = "discard";\n  message = "discarded by the lab policy";\n}\n')
        # "discard" is an action rspamd knows but does not define by default (no score reaches it)
        (self.local / "actions.conf").write_text("discard = 10000;\n")
        (self.override / "statistic.conf").write_text("")
        (self.dir / "classifier-bayes.conf").write_text("")
        for p in (self.dir, *self.dir.rglob("*")):
            shutil.chown(p, "_rspamd", "_rspamd")

    def start(self) -> None:
        out = self.dir / "stdout.log"
        cmd = ["rspamd", "-f", "-u", "_rspamd", "-g", "_rspamd", "-c", "/etc/rspamd/rspamd.conf",
               "-p", str(self.dir / "run" / "rspamd.pid"),
               "--var", f"LOCAL_CONFDIR={self.dir}", "--var", f"DBDIR={self.dir / 'db'}",
               "--var", f"RUNDIR={self.dir / 'run'}", "--var", f"LOGDIR={self.dir}"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(out, "wb"), stderr=subprocess.STDOUT)
        _wait_port(self.milter_port, self.proc, "rspamd", out)

    def stop(self) -> None:
        _terminate(self.proc)


def _terminate(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class FilterSet:
    """amavisd-new and rspamd for one test session (see the module docstring)."""

    def __init__(self) -> None:
        from .postfix import SyslogDaemon, _which, ns_prefix

        self.base = Path(tempfile.mkdtemp(prefix="ltflt-", dir="/tmp"))
        self.base.chmod(0o755)
        self.logdir = self.base / "log"
        self.logdir.mkdir(mode=0o755)
        self.reinject_port = _free_port()
        self.logs = {"rfc3164": self.logdir / "filters.log", "rfc3339": self.logdir / "filters.rfc3339.log"}
        self.amavis = Amavis(self.base, self.reinject_port) if amavis_available() is None else None
        self.rspamd = Rspamd(self.base, self.logdir) if rspamd_available() is None else None
        self._syslog = SyslogDaemon(self.base, "filters", "mx1.example.test", self.logs) if self.amavis else None
        self._ns = (lambda: ns_prefix(self.base / "devorig", self._syslog.sock)) if self._syslog else None
        self._which = _which
        self.error: str | None = None

    def start(self) -> "FilterSet":
        try:
            if self._syslog is not None:
                self._syslog.start()
            if self.rspamd is not None:
                self.rspamd.start()
            if self.amavis is not None:
                self.amavis.start(self._ns())  # type: ignore[misc]
        except Exception as e:  # noqa: BLE001 - reported by the tests that need the filter
            self.error = f"{type(e).__name__}: {e}"
            self.stop()  # nothing half-started stays behind
        return self

    def stop(self) -> None:
        for x in (self.amavis, self.rspamd, self._syslog):
            try:
                if x is not None:
                    x.stop()
            except Exception:  # noqa: BLE001 - best-effort teardown
                pass

    def cleanup(self) -> None:
        if os.environ.get("LOGTRACE_MTA_KEEP") != "1":
            shutil.rmtree(self.base, ignore_errors=True)

    def log_paths(self, style: str) -> list[str]:
        """The filters' log files for ``follow`` beside mx1's and mx2's (those that exist)."""
        out = []
        if self.amavis is not None:
            out.append(str(self.logs[style]))
        if self.rspamd is not None:
            out.append(str(self.rspamd.log))
        return out


_shared: FilterSet | None = None


def shared_filters() -> FilterSet | None:
    """The session's content filters, started on first use (None when neither is installed)."""
    global _shared
    if _shared is None:
        if amavis_available() is not None and rspamd_available() is not None:
            return None
        _shared = FilterSet().start()

        def _down() -> None:
            _shared.stop()  # type: ignore[union-attr]
            _shared.cleanup()  # type: ignore[union-attr]
        atexit.register(_down)
    return _shared
