"""Central syslog as a first-class input: one log host's file where Postfix and Exim both write.

Most sites do not read per-host logs: they read ONE ``/var/log/mail.log`` or a
log host's file.  This module builds that for real (tests/realmta):

* a log host: one more ``rsyslogd`` (:class:`realmta.postfix.LogHost`) listening
  on a free 127.0.0.1 TCP port (``imtcp``), writing every ``mail.*`` message it
  receives to ``log/central.log`` (RFC 3164, the sender's short host name) and
  ``log/central.rfc3339.log`` (RFC 3339, FQDN) - the per-host templates;
* Postfix ``mx1`` and ``mx2`` log through their own private rsyslogd (as in
  test_follow_real_postfix.py), which still writes the per-host files and now
  also forwards (``omfwd``, TCP) to the log host;
* Exim ``exim1`` logs to its native main log as before *and* to syslog
  (``log_file_path = syslog : <logdir>/exim1.%slog``, ``syslog_timestamp =
  false``, ``syslog_processname = exim``), running in a mount namespace whose
  ``/dev/log`` is its own rsyslogd (``exim1`` / ``exim1.example.test``), which
  forwards to the log host too.

The Exim scenarios (tests/realmta/exim_scenarios.py, including the cross-MTA
ones through mx1) run once for the module.  For both stamp styles, every
scenario is followed once in the per-host files (Exim main log + mx1's file)
and once in the central file alone, and must give the same per-recipient
verdicts and the same exit code; ``bounces --json`` must report the same failed
recipients with the same verdicts; ``parse`` of the central file must give every
``exim`` line ``mta == "exim"`` and leave no line of a claimed program unparsed.

Skipped when Exim, Postfix or the rsyslog/mount-namespace tooling is missing,
unless LOGTRACE_REQUIRE_MTA=1 (CI), where that is a failure.  LOGTRACE_MTA_KEEP=1
keeps the lab directory (its path is printed).
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import REQUIRE_MTA as REQUIRE, unavailable  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realmta.common import find_message, run_follow, run_logtrace  # noqa: E402
from realmta.exim import EximLab, exim_available  # noqa: E402
from realmta.exim_scenarios import CROSS, EXIM_ONLY, run_all  # noqa: E402
from realmta.postfix import STYLES, _rsyslog_mode_possible, postfix_available  # noqa: E402

pytestmark = pytest.mark.realmta

SCENARIOS = EXIM_ONLY + CROSS
#: programs the parsers claim: none of their lines may be left unparsed
CLAIMED = re.compile(r"^(postfix[^/]*/|exim$|amavis|dovecot)")
#: "Nov 25 17:23:38 mx1 postfix-mx1/smtpd[123]: ..." / "2026-...+00:00 mx1.example.test ..."
_STAMP = {"rfc3164": re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d "),
          "rfc3339": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d ")}

# Cases where the central file gives a different answer than the per-host files
# (product gaps, not lab problems): {(scenario, style): reason}.
XFAIL: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def central_run():
    reason = exim_available() or postfix_available() or _rsyslog_mode_possible()
    if reason:
        unavailable(f"central syslog lab unavailable: {reason}", required=REQUIRE)
    lab = EximLab(with_postfix=True, central=True)
    try:
        lab.start()
        try:
            scenarios = run_all(lab, timeout=60)
        finally:
            lab.stop()  # MTAs, then their rsyslogds, then the log host (waits for every line)
        yield lab, scenarios
    finally:
        lab.stop()
        if lab.keep:
            print(f"\ncentral syslog lab files kept in {lab.base}")
        lab.cleanup()


def _per_host(lab, style):
    return [str(lab.exim.mainlog), str(lab.postfix.hosts["mx1"].logs[style])]


def _scenario(central_run, name):
    lab, scenarios = central_run
    s = scenarios[name]
    assert not s.error, f"harness failed for {name}: {s.error}"
    return lab, s


def _verdicts(msg):
    return {(r.get("recipient") or "").lower(): r.get("verdict") for r in msg.get("recipients") or []}


def _facts(msg):
    """What must not depend on the file layout: the hops (id, link, MTA) and, per recipient,
    the hop that gave the verdict, the next hop's id, the DSN and the NDR.  (Not compared:
    times - Exim's main log has milliseconds, syslog seconds or microseconds - and host
    names, which the main log does not carry.)"""
    hops = sorted((c.get("queue_id"), c.get("link"), c.get("mta")) for c in msg.get("chain") or [])
    rcpts = {(r.get("recipient") or "").lower(): (r.get("verdict"), r.get("queue_id"), r.get("next_queue_id"),
                                                  r.get("dsn"), (r.get("ndr") or {}).get("queue_id"))
             for r in msg.get("recipients") or []}
    return hops, rcpts


def _params():
    out = []
    for style in STYLES:
        for name in SCENARIOS:
            marks = ()
            if (name, style) in XFAIL:
                marks = (pytest.mark.xfail(strict=True, reason=XFAIL[(name, style)]),)
            out.append(pytest.param(name, style, id=f"{name}-{style}", marks=marks))
    return out


# ------------------------------------------------------------------ harness --
def test_central_file_has_every_host_line(central_run):
    """The log host got every mail.* line of every host, with the host names of each style."""
    lab, scenarios = central_run
    errors = [f"{n}: {s.error}" for n, s in scenarios.items() if s.error]
    assert not errors, "\n".join(errors)
    hosts = {"exim1": lab.exim.syslog.logs, **{n: h.logs for n, h in lab.postfix.hosts.items()}}
    for style in STYLES:
        central = Path(lab.central_path(style)).read_text(errors="replace").splitlines()
        assert central, f"{lab.central_path(style)} is empty"
        bad = [ln for ln in central if not _STAMP[style].match(ln)]
        assert not bad, f"unexpected {style} line format in the central file: {bad[:3]}"
        want = Counter()
        for name, logs in hosts.items():
            lines = Path(logs[style]).read_text(errors="replace").splitlines()
            assert lines, f"{logs[style]} is empty"
            want.update(lines)
        # identical lines (stamp, host, tag, text): exactly the per-host files' lines, no more
        assert Counter(central) == want, (
            f"central file differs from the per-host files: missing {list((want - Counter(central)).elements())[:5]}, "
            f"extra {list((Counter(central) - want).elements())[:5]}")
        names = {ln.split()[3 if style == "rfc3164" else 1] for ln in central}
        expect = {lab.postfix.hostname(n, style) for n in lab.postfix.hosts} | {
            "exim1" if style == "rfc3164" else "exim1.example.test"}
        assert names == expect, names
    text = Path(lab.central_path("rfc3164")).read_text(errors="replace")
    assert re.search(r"^\S+ +\d+ \S+ exim1 exim\[\d+\]: ", text, re.M), "no Exim syslog line"
    # Exim writes the same events to its main log: every mainlog line is in syslog, body-for-body
    body = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ")
    main = [body.sub("", ln) for ln in lab.exim.log_text().splitlines()]
    syslog_bodies = Counter(ln.split(": ", 1)[1] for ln in text.splitlines() if " exim[" in ln)
    missing = [b for b in main if not syslog_bodies[b]]
    assert not missing, f"Exim main log lines absent from syslog (split into [n\\m] parts?): {missing[:3]}"


# ------------------------------------------------------------------ follow --
@pytest.mark.parametrize(("name", "style"), _params())
def test_follow_central_equals_per_host(central_run, name, style):
    lab, s = _scenario(central_run, name)
    code_h, data_h, ctx_h = run_follow(s.follow_args(), _per_host(lab, style))
    code_c, data_c, ctx_c = run_follow(s.follow_args(), [lab.central_path(style)])
    ctx = f"\n--- per-host:{ctx_h}\n--- central:{ctx_c}"
    per_host = _verdicts(find_message(data_h, s, ctx))
    # the per-host answer is the known-good one (test_follow_real_exim.py checks it in depth)
    for addr, v in s.recipients.items():
        assert per_host.get(addr.lower()) == v, f"per-host: {addr} is {per_host.get(addr.lower())}, not {v}{ctx}"
    msg_c = find_message(data_c, s, ctx)
    central = _verdicts(msg_c)
    assert central == per_host, f"verdicts differ: per-host {per_host} central {central}{ctx}"
    assert code_c == code_h == s.expect_exit, f"exit codes: per-host {code_h} central {code_c}{ctx}"
    facts_h, facts_c = _facts(find_message(data_h, s, ctx)), _facts(msg_c)
    assert facts_c == facts_h, f"hops/recipient facts differ: per-host {facts_h} central {facts_c}{ctx}"
    # the central file names every host (Exim's main log names none)
    names = {lab.postfix.hostname("mx1", style), "exim1" if style == "rfc3164" else "exim1.example.test"}
    hosts = {c.get("host") for c in msg_c.get("chain") or []} | {r.get("host") for r in msg_c.get("recipients") or []}
    assert hosts <= names, f"central: hosts {hosts}, expected among {names}{ctx}"


# ----------------------------------------------------------------- bounces --
def _failed(paths):
    r, ctx = run_logtrace("bounces", "--json", *paths)
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"bounces did not print JSON{ctx}")
    got = set()
    for m in data["messages"]:
        for rc in m.get("recipients") or []:
            got.add(((rc.get("recipient") or "").lower(), rc.get("verdict")))
    return r.returncode, got, ctx


@pytest.mark.parametrize("style", STYLES)
def test_bounces_central_equals_per_host(central_run, style):
    lab, scenarios = central_run
    code_h, per_host, ctx_h = _failed(_per_host(lab, style))
    code_c, central, ctx_c = _failed([lab.central_path(style)])
    ctx = f"\n--- per-host:{ctx_h}\n--- central:{ctx_c}"
    expected_failed = {a.lower() for s in scenarios.values() for a, v in s.recipients.items()
                       if v in ("bounced", "expired")}
    assert expected_failed <= {a for a, _ in per_host}, f"per-host bounces miss some of {expected_failed}{ctx}"
    assert central == per_host, (f"failed recipients differ: only per-host {sorted(per_host - central)}, "
                                 f"only central {sorted(central - per_host)}{ctx}")
    assert code_c == code_h, f"exit codes: per-host {code_h} central {code_c}{ctx}"


# ------------------------------------------------------------------- parse --
@pytest.mark.parametrize("style", STYLES)
def test_parse_central_file(central_run, style):
    lab, _ = central_run
    r, ctx = run_logtrace("parse", lab.central_path(style))
    assert r.returncode == 0, ctx
    rows = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    n_lines = len(Path(lab.central_path(style)).read_text(errors="replace").splitlines())
    assert len(rows) == n_lines, f"{len(rows)} events for {n_lines} lines{ctx}"
    exim = [e for e in rows if e.get("program") == "exim"]
    assert exim, f"no exim lines parsed{ctx}"
    wrong = [e for e in exim if e.get("mta") != "exim"]
    assert not wrong, f"exim lines not parsed as Exim: {wrong[:3]}{ctx}"
    unparsed = [e for e in rows if CLAIMED.match(e.get("program") or "") and e.get("kind") == "unparsed"]
    assert not unparsed, f"claimed programs' lines left unparsed: {unparsed[:5]}{ctx}"
    postfix = {e.get("program") for e in rows if (e.get("program") or "").startswith("postfix")}
    assert postfix and {e.get("mta") for e in rows if e.get("program") in postfix} == {"postfix"}, ctx
