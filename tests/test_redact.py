"""Issue 18: ``--redact`` on every command. Addresses, client/relay names and IP addresses are
replaced by keyed tokens, consistently (same input → same token), so a report or a story can be
shared; counts, joins and verdicts do not change."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from logtrace.redact import Redactor

REPO = Path(__file__).resolve().parents[1]
POSTFIX = sorted(str(p) for p in (REPO / "sample_logs/postfix").glob("*.log"))
EXIM = sorted(str(p) for p in (REPO / "sample_logs/exim").glob("*.log"))
LAB = [str(REPO / "sample_logs/postfix/lab-mx1.log"), str(REPO / "sample_logs/postfix/lab-mx2.log")]
KEEP = {"localhost", "127.0.0.1", "::1", "unknown", "local", "none", ""}
TOKEN = re.compile(r"\b(?:u-[0-9a-f]{8}@h-[0-9a-f]{8}\.invalid|h-[0-9a-f]{8}\.invalid|ip-[0-9a-f]{8})\b")


def run(*args: str, key: str = "k1") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200", LOGTRACE_REDACT_KEY=key)
    return subprocess.run([sys.executable, "-m", "logtrace", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=180)


def personal_values(files: list[str]) -> set[str]:
    """Every address, client name and IP that the parser found in ``files`` (the ground truth to hide)."""
    r = run("parse", "--json", *files)
    assert r.returncode == 0, r.stderr
    out: set[str] = set()
    events = [json.loads(line) for line in r.stdout.splitlines()]
    servers = {ev.get("host") for ev in events}  # the postmaster's own hosts (syslog host) stay, by design
    for ev in events:
        for k in ("sender", "recipient", "orig_recipient", "message_id", "client_host", "client_ip", "relay_ip"):
            v = ev.get(k)
            if (isinstance(v, str) and v.strip("<>").lower() not in KEEP and not v.startswith(("127.", "private/", "public/"))
                    and v not in servers and len(v) > 3 and any(c in v for c in "@.:")):
                # bare local user names (Exim's U=root, "frozen by root") are hashed in their fields,
                # but a free-text mention of one cannot be told from a word: not counted here
                out.add(v.strip("<>"))
    return out


@pytest.fixture(scope="module")
def secrets() -> dict[str, set[str]]:
    got = {"postfix": personal_values(POSTFIX), "exim": personal_values(EXIM)}
    assert len(got["postfix"]) > 20 and len(got["exim"]) > 10  # the samples do carry personal data
    return got


# ------------------------------------------------------------------ the tokens


def test_tokens_are_consistent_keyed_and_keep_what_identifies_no_one():
    a, b = Redactor(key=b"one"), Redactor(key=b"two")
    x = a.address("Bob@Example.org")
    assert re.fullmatch(r"u-[0-9a-f]{8}@h-[0-9a-f]{8}\.invalid", x)
    assert a.address("bob@example.org") == x  # case does not make another person
    assert a.address("alice@example.org").split("@")[1] == x.split("@")[1]  # one domain, one token
    assert b.address("bob@example.org") != x  # another key, other tokens
    assert a.host("mail.example.org") == a.host("MAIL.example.org.")
    assert a.host("192.0.2.7").startswith("ip-") and a.host("2001:db8::25").startswith("ip-")
    for kept in ("localhost", "127.0.0.1", "::1", "unknown", "private/dovecot-lmtp", "<>"):
        assert a.value("client_host", kept) == kept and a.address(kept) == kept
    # idempotent: output that is redacted again does not change (tables are redacted, then their cells)
    t = a.text("from=<bob@example.org> client=mail.example.org[192.0.2.7] helo=<x.example.net>")
    assert a.text(t) == t


def test_free_text_shapes_of_postfix_exim_and_dovecot():
    r = Redactor(key=b"k")
    lines = {
        "NOQUEUE: reject: RCPT from unknown[198.51.100.3]: 554 5.7.1 <x@y.example>: Relay access denied; "
        "from=<a@b.example> to=<x@y.example> proto=ESMTP helo=<evil.example>": ("198.51.100.3", "x@y.example", "a@b.example", "evil.example"),
        "to=<bob@example.org>, relay=mx.example.net[2001:db8::25]:25, delay=0.3, status=sent (250 2.0.0 Ok)":
            ("bob@example.org", "mx.example.net", "2001:db8::25"),
        "Host or domain name not found. Name service error for name=nosuch.example type=MX": ("nosuch.example",),
        "H=mx.foo.example (helo.foo) [203.0.113.9]:4321 P=esmtp S=1234": ("mx.foo.example", "helo.foo", "203.0.113.9"),
        "lmtp(bob@example.org)<19423><I861FWYuzl>: msgid=<abc@example.net>: saved mail to INBOX": ("bob@example.org", "abc@example.net"),
        "connect to 192.0.2.25[192.0.2.25]:25: Connection refused": ("192.0.2.25",),
    }
    for line, hidden in lines.items():
        out = r.text(line)
        for h in hidden:
            assert h not in out, (line, out)
        assert TOKEN.search(out), out
    # what is not personal stays readable
    kept = r.text("status=deferred (delivery temporarily suspended) at 10:42:03 version 3.7.11 dsn=4.4.1 delay=0.3")
    assert kept == "status=deferred (delivery temporarily suspended) at 10:42:03 version 3.7.11 dsn=4.4.1 delay=0.3"


# ------------------------------------------------------------------ every command, every output


@pytest.mark.parametrize("args", [
    ["summary"], ["summary", "--json"], ["summary", "--format", "markdown"],
    ["bounces"], ["bounces", "--json"], ["bounces", "--csv"],
    ["parse", "--json"], ["parse", "--csv"],
], ids=lambda a: " ".join(a))
@pytest.mark.parametrize("mta", ["postfix", "exim"])
def test_no_personal_value_survives(args, mta, secrets):
    files = POSTFIX if mta == "postfix" else EXIM
    r = run(*args, "--redact", *files)
    assert r.returncode in (0, 4), r.stderr
    out = r.stdout + r.stderr
    leaked = sorted(v for v in secrets[mta] if v in out)
    assert not leaked, f"{len(leaked)} values leaked, e.g. {leaked[:5]}"
    assert TOKEN.search(r.stdout), r.stdout[:500]


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_follow_story_is_redacted_and_still_followed(fmt, secrets):
    plain = run("follow", "3D02620C222", "--format", fmt, *LAB)
    red = run("follow", "3D02620C222", "--redact", "--format", fmt, *LAB)
    assert plain.returncode == red.returncode == 0
    assert not [v for v in secrets["postfix"] if v in red.stdout]
    assert "3D02620C222" in red.stdout and "44BAC20C223" in red.stdout  # queue IDs and the chain stay
    if fmt == "json":
        p, q = json.loads(plain.stdout), json.loads(red.stdout)
        vp = [(r["recipient"], r["verdict"]) for m in p["messages"] for r in m["recipients"]]
        vq = [(r["recipient"], r["verdict"]) for m in q["messages"] for r in m["recipients"]]
        assert [v for _, v in vp] == [v for _, v in vq]
        assert all(TOKEN.fullmatch(rcpt) for rcpt, _ in vq)


def test_counts_do_not_change_and_tokens_match_across_commands():
    plain = json.loads(run("summary", "--json", *POSTFIX).stdout)
    red = json.loads(run("summary", "--json", "--redact", *POSTFIX).stdout)
    assert plain["totals"] == red["totals"]
    assert [r["count"] for r in plain["sections"]["senders_by_count"]] == [r["count"] for r in red["sections"]["senders_by_count"]]
    # same key: a sender's token in the summary is the token in follow's story
    story = json.loads(run("follow", "3D02620C222", "--json", "--redact", *LAB).stdout)
    summ = json.loads(run("summary", "--json", "--redact", *LAB).stdout)
    sender = story["messages"][0]["sender"]
    assert TOKEN.fullmatch(sender)
    assert sender in {r["sender"] for r in summ["sections"]["senders_by_count"]}
    # another key: other tokens
    other = json.loads(run("follow", "3D02620C222", "--json", "--redact", *LAB, key="k2").stdout)
    assert other["messages"][0]["sender"] != sender
