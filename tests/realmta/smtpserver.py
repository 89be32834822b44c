"""Scripted SMTP servers used as the far end of the real-Postfix harness.

``ScriptedSMTPServer``: behaviour is chosen by the recipient's local part:

* ``greylist*``  -> ``451 4.7.1 ...greylisted`` the first ``greylist_times``
  attempts (per recipient address), then accepted
* ``unknown*``   -> ``550 5.1.1 <addr>: Recipient address rejected: User unknown``
* ``tempfail*``  -> always ``451 4.4.1 ...`` (used for expiry / deletion)
* ``requeue*``   -> ``451 4.4.1 ...`` until :meth:`ScriptedSMTPServer.release` names the
  address, then accepted (used for ``postsuper -r``)
* anything else  -> accepted; DATA answers ``250 2.0.0 Ok: queued as <10 hex>``

``ContentFilterServer``: behaves like amavisd-new: accepts a message, re-injects
it over SMTP into ``reinject_port`` and answers
``250 2.0.0 Ok, id=NNNNN-NN, from MTA([127.0.0.1]:PORT): <re-injection reply>``;
a message to a ``spam*`` recipient is dropped with amavis' own D_DISCARD reply
``250 2.7.0 Ok, discarded, id=NNNNN-NN - spam`` (no re-injection). Like amavis it offers
XFORWARD and passes the attributes Postfix sent (``IDENT=<queue ID>`` among them) on to the
re-injecting smtpd, which then logs ``client=…, orig_queue_id=<ID>, orig_client=…``; for a
``noid*`` recipient its reply leaves out the re-injection's ``queued as <ID>``.

Only the standard library is used; every socket has a timeout.
"""
from __future__ import annotations

import itertools
import os
import random
import re
import smtplib
import socket
import socketserver
import threading
from dataclasses import dataclass

IO_TIMEOUT = 30.0


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    reply: str


class _Handler(socketserver.StreamRequestHandler):
    timeout = IO_TIMEOUT

    def send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def readline(self) -> str | None:
        raw = self.rfile.readline(65536)
        if not raw:
            return None
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def handle(self) -> None:  # noqa: C901 - a small SMTP state machine
        srv: _BaseServer = self.server  # type: ignore[assignment]
        self.send(f"220 {srv.banner_host} ESMTP scripted test server")
        mail_from: str | None = None
        rcpts: list[str] = []
        xforward: dict[str, str] = {}
        try:
            while True:
                line = self.readline()
                if line is None:
                    return
                verb = line.split(" ", 1)[0].upper()
                arg = line[len(verb):].strip()
                if verb == "EHLO":
                    mail_from, rcpts = None, []
                    self.send(f"250-{srv.banner_host}")
                    for ext in srv.ehlo_extra:
                        self.send(f"250-{ext}")
                    self.send("250-PIPELINING")
                    self.send("250-SIZE 10240000")
                    self.send("250-ENHANCEDSTATUSCODES")
                    self.send("250 8BITMIME")
                elif verb == "HELO":
                    mail_from, rcpts = None, []
                    self.send(f"250 {srv.banner_host}")
                elif verb == "MAIL":
                    mail_from, rcpts = _addr(arg), []
                    self.send("250 2.1.0 Ok")
                elif verb == "RCPT":
                    if mail_from is None:
                        self.send("503 5.5.1 Error: need MAIL command")
                        continue
                    addr = _addr(arg)
                    reply = srv.rcpt_reply(addr)
                    if reply.startswith("250"):
                        rcpts.append(addr)
                    self.send(reply)
                elif verb == "DATA":
                    if not rcpts:
                        self.send("554 5.5.1 Error: no valid recipients")
                        continue
                    self.send("354 End data with <CR><LF>.<CR><LF>")
                    chunks = []
                    while True:
                        raw = self.rfile.readline(1 << 20)
                        if not raw:
                            return
                        if raw in (b".\r\n", b".\n"):
                            break
                        if raw.startswith(b".."):
                            raw = raw[1:]
                        chunks.append(raw)
                    data = b"".join(chunks)
                    reply = srv.data_reply(mail_from or "", list(rcpts), data, dict(xforward))
                    xforward = {}
                    srv.record(Received(mail_from or "", list(rcpts), data, reply))
                    self.send(reply)
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    self.send("250 2.0.0 Ok")
                elif verb == "NOOP":
                    self.send("250 2.0.0 Ok")
                elif verb == "QUIT":
                    self.send("221 2.0.0 Bye")
                    return
                elif verb in ("XFORWARD", "XCLIENT"):
                    if verb == "XFORWARD":  # NAME=… ADDR=… IDENT=<queue ID> (xtext; kept as sent)
                        xforward.update(kv.split("=", 1) for kv in arg.split() if "=" in kv)
                    self.send("250 2.0.0 Ok")
                else:
                    self.send("502 5.5.2 Error: command not recognized")
        except (OSError, socket.timeout):
            return


def _addr(arg: str) -> str:
    # "FROM:<a@b> SIZE=12" / "TO:<x@y>"
    if ":" in arg:
        arg = arg.split(":", 1)[1]
    arg = arg.strip()
    if arg.startswith("<"):
        arg = arg[1:].split(">", 1)[0]
    else:
        arg = arg.split(" ", 1)[0]
    return arg


class _BaseServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    banner_host = "far.example.net"
    ehlo_extra: tuple[str, ...] = ()  #: extra EHLO keywords (the content filter offers XFORWARD)

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def record(self, item: Received) -> None:
        with self.lock:
            self.received.append(item)

    def rcpt_reply(self, addr: str) -> str:
        return "250 2.1.5 Ok"

    def data_reply(self, mail_from: str, rcpts: list[str], data: bytes, xforward: dict[str, str] | None = None) -> str:
        return f"250 2.0.0 Ok: queued as {random.randbytes(5).hex().upper()}"

    def start(self) -> "_BaseServer":
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
            name=f"{type(self).__name__}:{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class ScriptedSMTPServer(_BaseServer):
    """The far end: reply per recipient local part (see module doc)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, greylist_times: int = 1) -> None:
        super().__init__(host, port)
        self.greylist_times = greylist_times
        self.attempts: dict[str, int] = {}
        self.released: set[str] = set()

    def release(self, addr: str) -> None:
        """Accept ``requeue*`` address ``addr`` from now on."""
        with self.lock:
            self.released.add(addr.lower())

    def rcpt_reply(self, addr: str) -> str:
        local = addr.split("@", 1)[0].lower()
        with self.lock:
            self.attempts[addr.lower()] = n = self.attempts.get(addr.lower(), 0) + 1
        if local.startswith("unknown"):
            return f"550 5.1.1 <{addr}>: Recipient address rejected: User unknown"
        if local.startswith("requeue"):
            with self.lock:
                if addr.lower() not in self.released:
                    return f"451 4.4.1 <{addr}>: Recipient address rejected: try again later"
            return "250 2.1.5 Ok"
        if local.startswith("tempfail"):
            return f"451 4.4.1 <{addr}>: Recipient address rejected: try again later"
        if local.startswith("greylist") and n <= self.greylist_times:
            return f"451 4.7.1 <{addr}>: Recipient address rejected: greylisted, try again later"
        return "250 2.1.5 Ok"


class ContentFilterServer(_BaseServer):
    """amavisd-new look-alike: re-inject into ``reinject_port`` and pass the reply through."""

    banner_host = "[127.0.0.1]"
    #: like amavisd-new: Postfix's smtp client then sends XFORWARD (with IDENT=<queue ID>), and
    #: the filter passes it on when it re-injects, so smtpd logs ``orig_queue_id=``
    ehlo_extra = ("XFORWARD NAME ADDR PROTO HELO IDENT",)
    _ids = itertools.count(1)

    def __init__(self, reinject_port: int, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.reinject_port = reinject_port

    def data_reply(self, mail_from: str, rcpts: list[str], data: bytes, xforward: dict[str, str] | None = None) -> str:
        am_id = f"{os.getpid() % 100000:05d}-{next(self._ids):02d}"
        if any(r.split("@", 1)[0].lower().startswith("spam") for r in rcpts):
            return f"250 2.7.0 Ok, discarded, id={am_id} - spam"
        try:
            with smtplib.SMTP("127.0.0.1", self.reinject_port, local_hostname="localhost",
                              timeout=IO_TIMEOUT) as s:
                s.ehlo()
                if xforward and s.has_extn("xforward"):
                    want = s.esmtp_features["xforward"].upper().split()
                    attrs = " ".join(f"{k}={v}" for k, v in xforward.items() if k.upper() in want)
                    if attrs:
                        s.docmd("XFORWARD", attrs)
                code, msg = s.mail(mail_from)
                if code != 250:
                    return f"451 4.5.0 id={am_id}, temporary failure: MAIL FROM: {code} {msg.decode()}"
                ok = 0
                for r in rcpts:
                    code, _ = s.rcpt(r)
                    ok += code in (250, 251)
                if not ok:
                    return f"451 4.5.0 id={am_id}, re-injection refused all recipients"
                code, msg = s.data(data)
        except (OSError, smtplib.SMTPException) as e:
            return f"451 4.5.0 id={am_id}, re-injection failed: {e}"
        text = msg.decode("utf-8", "replace").replace("\n", " ")
        if any(r.split("@", 1)[0].lower().startswith("noid") for r in rcpts):  # a filter whose reply names no queue ID
            text = re.sub(r":? *queued as \S+", "", text)
        if code != 250:
            return f"451 4.5.0 id={am_id}, from MTA([127.0.0.1]:{self.reinject_port}): {code} {text}"
        return (f"250 2.0.0 Ok, id={am_id}, from MTA([127.0.0.1]:{self.reinject_port}): "
                f"{code} {text}")
