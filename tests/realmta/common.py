"""Pieces both real-MTA labs and their tests share: SMTP injection, waiting for a log line,
and running ``logtrace follow --json`` against the logs a lab wrote."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Exim message ids, pre-4.97 (16 chars) and 4.97+ (23 chars)
ID_RE = r"[0-9A-Za-z]{6}-(?:[0-9A-Za-z]{6}-[0-9A-Za-z]{2}|[0-9A-Za-z]{11}-[0-9A-Za-z]{4})"


def wait_for_text(name: str, read: Callable[[], str], regex: str, timeout: float = 60) -> re.Match:
    """Poll a log until ``regex`` (multi-line) matches; TimeoutError with the log tail."""
    pat = re.compile(regex, re.M)
    deadline = time.monotonic() + timeout
    while True:
        m = pat.search(read())
        if m:
            return m
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: no log line matching {regex!r} within {timeout}s; log tail:\n{read()[-3000:]}")
        time.sleep(0.2)


def smtp_send(port: int, sender: str, rcpts: list[str], subject: str = "test",
              message_id: str | None = None, body: str = "Hello.\n",
              helo: str = "client.example.org", attachment: tuple[str, bytes] | None = None
              ) -> tuple[str | None, dict[str, tuple[int, str]], tuple[int, str] | None]:
    """Inject one message; return (id from the DATA reply, rcpt_replies, data_reply).

    The id is Exim's ``250 OK id=<id>`` or Postfix's ``250 ... queued as <id>``.
    """
    import smtplib
    from email.message import EmailMessage
    from email.utils import formatdate
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(rcpts)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id or f"<{os.urandom(6).hex()}@client.example.org>"
    msg.set_content(body)
    if attachment is not None:  # (file name, bytes): a MIME part with that name
        msg.add_attachment(attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0])
    replies: dict[str, tuple[int, str]] = {}
    with smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=30) as s:
        s.ehlo()
        code, text = s.mail(sender)
        if code != 250:
            raise RuntimeError(f"MAIL FROM refused: {code} {text!r}")
        for r in rcpts:
            c, t = s.rcpt(r)
            replies[r] = (c, t.decode(errors="replace"))
        if not any(c in (250, 251) for c, _ in replies.values()):
            s.rset()
            return None, replies, None
        try:
            c, t = s.data(msg.as_bytes())
        except smtplib.SMTPDataError as e:  # refused at end of data (header_checks, a milter)
            c, t = e.smtp_code, e.smtp_error
        data_reply = (c, t.decode(errors="replace") if isinstance(t, bytes) else str(t))
    m = re.search(rf"\bid=({ID_RE})", data_reply[1]) or re.search(
        r"queued as ([0-9A-Za-z]+)", data_reply[1])
    return (m.group(1) if m else None), replies, data_reply



def run_logtrace(*args: str) -> tuple[subprocess.CompletedProcess, str]:
    """``python -m logtrace ARGS`` from the repo → (completed process, context for failures)."""
    cmd = [sys.executable, "-m", "logtrace", *args]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=60, stdin=subprocess.DEVNULL)
    ctx = f"\n$ {' '.join(cmd)}\nexit={r.returncode}\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}"
    return r, ctx


def run_follow(args: Sequence[str], paths: Sequence[str]) -> tuple[int, dict, str]:
    """``python -m logtrace follow ARGS PATHS --json`` → (exit code, document, context for failures)."""
    r, ctx = run_logtrace("follow", *args, *paths, "--json")
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"follow did not print JSON{ctx}")
    return r.returncode, data, ctx


def find_message(data: dict, scenario, ctx: str) -> dict:  # noqa: ANN001
    """The followed message of a scenario: by its queue ID, else by its ``--to`` address."""
    msgs = data.get("messages") or []
    assert msgs, f"no messages in output{ctx}"
    if scenario.queue_id:
        for m in msgs:
            if m.get("query") == scenario.queue_id or any(c.get("queue_id") == scenario.queue_id for c in m.get("chain") or []):
                return m
        pytest.fail(f"no message for queue id {scenario.queue_id}{ctx}")
    for m in msgs:
        if any(r.get("recipient") == scenario.follow_to for r in m.get("recipients") or []):
            return m
    pytest.fail(f"no message with recipient {scenario.follow_to}{ctx}")


def find_recipient(msg: dict, addr: str, ctx: str) -> dict:
    for r in msg.get("recipients") or []:
        if (r.get("recipient") or "").lower() == addr.lower():
            return r
    pytest.fail(f"recipient {addr} missing{ctx}")
