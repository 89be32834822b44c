"""Issue 19: ``summary --format html`` is one self-contained page, checked in a real headless Chromium.

Chromium (Debian's ``chromium``, installed by ``.ci/install-browser.sh``) is driven through the
DevTools protocol over a pipe (``--remote-debugging-pipe``: JSON messages separated by NUL bytes
on file descriptors 3 and 4), so no driver or websocket package is needed. One browser runs per
test session; each test opens its own tab. A tab records every console message, exception, log
entry and network request; :meth:`Tab.assert_clean` fails on any console error and on any request
but the ``file://`` load of the page itself.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import IN_CI, unavailable

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 180.0  # generous: CI machines are slow and shared; never a pass/fail criterion on speed
CHARTS = ("per_day", "per_hour", "delays", "deferral_reasons", "bounce_reasons", "reject_reasons",
          "delivery_by_domain", "reception_by_domain")


# ------------------------------------------------------------------ the browser


class Browser:
    """A headless Chromium driven over ``--remote-debugging-pipe``."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def wire() -> None:  # in the child: our pipe ends become fds 3 (commands in) and 4 (replies out)
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.log = open(profile / "chromium.stderr", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
             "--disable-features=MediaRouter,OptimizationHints,Translate", "--mute-audio", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, preexec_fn=wire, close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self._next = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                with self._lock:
                    if "id" in msg:
                        self._replies.setdefault(msg["id"], queue.Queue()).put(msg)
                    else:
                        self._events.setdefault(msg.get("sessionId", ""), []).append(msg)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        with self._lock:
            self._next += 1
            mid = self._next
            box = self._replies.setdefault(mid, queue.Queue())
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        try:
            reply = box.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"chromium did not answer {method} (see {self.log.name})") from None
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply.get("result", {})

    def events(self, session: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events.get(session, []))

    def wait_event(self, session: str, method: str, after: int) -> dict[str, Any]:
        import time

        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for e in self.events(session)[after:]:
                if e["method"] == method:
                    return e
            time.sleep(0.02)
        raise AssertionError(f"no {method} event from chromium within {TIMEOUT:.0f} s")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()


class Tab:
    """One page target with console, log, exception and network events recorded."""

    def __init__(self, browser: Browser, width: int = 1200, height: int = 900, dark: bool = False) -> None:
        self.b = browser
        self.target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": self.target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                          "mobile": width < 600})
        self.send("Emulation.setEmulatedMedia", {"media": "screen", "features": [
            {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
        self.url = ""

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.b.send(method, params, self.session)

    def open(self, path: Path) -> None:
        self.url = path.resolve().as_uri()
        mark = len(self.b.events(self.session))
        self.send("Page.navigate", {"url": self.url})
        self.b.wait_event(self.session, "Page.loadEventFired", mark)

    def js(self, expression: str) -> Any:
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions, log errors (CSP violations among them) and every network request
        except the page's own ``file://`` load."""
        out = []
        for e in self.b.events(self.session):
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p.get('args', [])]}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')} {p['exceptionDetails'].get('exception', {})}")
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log {p['entry']['level']} ({p['entry'].get('source')}): {p['entry'].get('text')}")
            elif m == "Network.requestWillBeSent" and p["request"]["url"] != self.url:
                out.append(f"network request: {p['request']['url']}")
            elif m == "Network.loadingFailed":
                out.append(f"network failure: {p.get('errorText')}")
        return out

    def assert_clean(self) -> None:
        assert self.problems() == []

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        self.b.send("Target.closeTarget", {"targetId": self.target})


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One Chromium for the session, with a fresh profile (its stderr is kept beside it, in pytest's temp dir)."""
    binary = os.environ.get("LOGTRACE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(binary, os.X_OK):
        unavailable("chromium is not installed (bash .ci/install-browser.sh installs it)", required=IN_CI)
    b = Browser(binary, tmp_path_factory.mktemp("chromium"))
    try:
        b.send("Browser.getVersion")
        yield b
    finally:
        b.close()


@pytest.fixture
def tab(browser):
    tabs: list[Tab] = []

    def make(**kw: Any) -> Tab:
        tabs.append(Tab(browser, **kw))
        return tabs[-1]

    yield make
    for t in tabs:
        t.close()


# ------------------------------------------------------------------ reports


def logtrace(*args: str, codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    r = subprocess.run([sys.executable, "-m", "logtrace", *args], capture_output=True, cwd=REPO, env=env, timeout=600)
    assert r.returncode in codes, r.stderr.decode(errors="replace")
    return r


def report(tmp: Path, logs: list[str], *extra: str) -> tuple[Path, dict[str, Any], str]:
    """Run ``summary --format html`` and ``--format json`` over the same logs: (page, document, html)."""
    page = tmp / "report.html"
    logtrace("summary", "--format", "html", "-o", str(page), *extra, *logs)
    doc = json.loads(logtrace("summary", "--format", "json", *extra, *logs).stdout)
    return page, doc, page.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def busy_day(tmp_path_factory):
    """A generated Postfix log over two days (three hosts, content filter, deferrals, bounces, rejects)."""
    d = tmp_path_factory.mktemp("busy")
    log = d / "mail.log"
    subprocess.run([sys.executable, str(REPO / "bench" / "genlog.py"), "--lines", "30000", "--seed", "19", "--rate", "0.03",
                    "--start", "2026-11-20T18:00:00", "--out", str(log), "-q"], check=True, timeout=600)
    return report(d, [str(log)], "--year", "2026", "--tz", "UTC", "--top", "8")


def _charts(t: Tab) -> list[dict[str, Any]]:
    return t.js("""Array.from(document.querySelectorAll('figure.chart')).map(f => {
        const s = f.querySelector('svg'), r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
        return {name: f.dataset.chart, svgs: f.querySelectorAll('svg').length, w: r.width, h: r.height,
                rects: s ? s.querySelectorAll('rect').length : 0, bars: s ? s.querySelectorAll('g').length : 0,
                nodata: !!(s && /no data/.test(s.textContent))};
    })""")


def _tables(t: Tab) -> dict[str, dict[str, Any]]:
    return {x["name"]: x for x in t.js("""Array.from(document.querySelectorAll('table.sortable')).map(tb => {
        const r = tb.getBoundingClientRect();
        return {name: tb.dataset.section, rows: tb.tBodies[0].rows.length, cols: tb.tHead.rows[0].cells.length,
                w: r.width, h: r.height, cells: Array.from(tb.tBodies[0].rows).map(tr => tr.cells.length)};
    })""")}


def test_the_report_renders_every_chart_and_table_with_no_error_and_no_request(busy_day, tab, tmp_path):
    page, doc, text = busy_day
    sections = doc["sections"]
    assert sections["per_day"] and sections["deferral_reasons"] and sections["bounce_reasons"] and sections["reject_reasons"]
    t = tab()
    t.open(page)
    t.assert_clean()
    shot = t.screenshot(tmp_path / "report.png")
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 10_000

    charts = {c["name"]: c for c in _charts(t)}
    assert set(CHARTS) <= set(charts)
    for c in charts.values():  # one drawn SVG each, with marks on it (data: no "no data" placeholder)
        assert c["svgs"] == 1 and c["w"] > 200 and c["h"] > 30 and c["rects"] > 0 and not c["nodata"], c
    assert charts["per_hour"]["rects"] >= 24 * 5  # a column per hour and series (and the legend)
    assert charts["per_day"]["rects"] >= len(sections["per_day"]) * 5
    for name in ("deferral_reasons", "bounce_reasons", "reject_reasons", "delivery_by_domain", "reception_by_domain"):
        assert charts[name]["bars"] == min(8, len(sections[name])), name

    tables = _tables(t)
    for name, rows in sections.items():  # every section's rows, each with every column, on screen
        if not rows or not isinstance(rows, list):
            continue
        cols = {c for r in rows for c in r}
        assert tables[name]["rows"] == len(rows) and tables[name]["cols"] == len(cols), name
        assert set(tables[name]["cells"]) == {len(cols)} and tables[name]["w"] > 0 and tables[name]["h"] > 0, name
    assert tables["accounting"]["rows"] == len(doc["accounting"]["by_program"])

    totals = t.js("Object.fromEntries(Array.from(document.querySelectorAll('dl[data-section=totals] div')).map("
                  "d => [d.querySelector('dt').textContent, d.querySelector('dd').textContent]))")
    for k, v in doc["totals"].items():
        shown = totals[k.replace("_", " ")]
        if k.startswith("bytes"):
            exact = t.js(f"document.querySelector('dl[data-section=totals] dd[title=\"{v}\"]') !== null")
            assert shown.endswith("B") and exact, (k, shown)
        else:
            assert shown.replace(",", "").rstrip("%") == str(v), (k, shown)
    failed = t.js("document.querySelectorAll('#failed li.message').length")
    bounces = json.loads(logtrace("bounces", "--json", "--year", "2026", "--tz", "UTC", doc["inputs"][0]["path"],
                                  codes=(0, 4)).stdout)
    assert failed == min(len(bounces["messages"]), 500) > 0
    assert "<script>" not in text.split("<script>", 1)[1]  # one script element: ours, at the end
    t.assert_clean()


def test_tables_sort_by_the_clicked_column(busy_day, tab):
    page, doc, _ = busy_day
    t = tab()
    t.open(page)
    sort = """(col, name) => {
        const tb = document.querySelector(`table[data-section="${name}"]`);
        const i = Array.from(tb.tHead.rows[0].cells).findIndex(th => th.textContent.trim() === col);
        tb.tHead.rows[0].cells[i].querySelector('button').click();
        return [tb.tHead.rows[0].cells[i].getAttribute('aria-sort'),
                Array.from(tb.tBodies[0].rows).map(r => r.cells[i].dataset.v ?? r.cells[i].textContent)];
    }"""
    rows = doc["sections"]["delivery_by_domain"]
    assert len(rows) > 2
    order, values = t.js(f"({sort})('sent', 'delivery_by_domain')")
    assert order == "ascending" and [float(v) for v in values] == sorted(r["sent"] for r in rows)
    order, values = t.js(f"({sort})('sent', 'delivery_by_domain')")
    assert order == "descending" and [float(v) for v in values] == sorted((r["sent"] for r in rows), reverse=True)
    order, values = t.js(f"({sort})('domain', 'delivery_by_domain')")
    assert order == "ascending" and values == sorted((r["domain"] for r in rows), key=str.lower)
    t.assert_clean()


def test_no_horizontal_overflow_at_375_px(busy_day, tab, tmp_path):
    page, _, _ = busy_day
    t = tab(width=375, height=812)
    t.open(page)
    assert t.js("window.innerWidth") == 375
    assert t.js("document.documentElement.scrollWidth") <= 375
    assert t.js("document.body.scrollWidth") <= 375
    # every chart box fits the screen (the per-day/per-hour plots and wide tables scroll inside their own box)
    boxes = "Array.from(document.querySelectorAll('figure.chart, .plot, .scroll, dl'))"
    assert t.js(f"{boxes}.length") > 10
    assert t.js(f"Math.max(...{boxes}.map(e => e.getBoundingClientRect().right))") <= 375
    assert t.js("Array.from(document.querySelectorAll('figure.chart:not(.wide) svg')).every("
                "s => s.getBoundingClientRect().right <= 375 && s.getBoundingClientRect().width > 300)")
    t.screenshot(tmp_path / "report-375.png")
    t.assert_clean()


def test_dark_scheme_changes_the_colours(busy_day, tab, tmp_path):
    page, _, _ = busy_day
    probe = ("[getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).color, "
             "getComputedStyle(document.querySelector('svg .s1')).fill]")
    light = tab()
    light.open(page)
    dark = tab(dark=True)
    dark.open(page)
    assert light.js("matchMedia('(prefers-color-scheme: dark)').matches") is False
    assert dark.js("matchMedia('(prefers-color-scheme: dark)').matches") is True
    lc, dc = light.js(probe), dark.js(probe)
    assert all(a != b for a, b in zip(lc, dc)), (lc, dc)

    def luminance(rgb: str) -> float:
        r, g, b = (int(x) for x in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    assert luminance(lc[0]) > 200 > 60 > luminance(dc[0])  # a light page and a dark one
    assert luminance(dc[1]) > 150  # light text on the dark page
    dark.screenshot(tmp_path / "report-dark.png")
    light.assert_clean()
    dark.assert_clean()


# ------------------------------------------------------------------ hostile log text

PAYLOADS = (
    "<script>window.__pwned=1</script>",
    "'onmouseover='window.__pwned=2'",
    "</style><script>window.__pwned=3</script>",
    '<img src=x onerror="window.__pwned=4">',
    "javascript:window.__pwned=5",
    "<svg/onload=window.__pwned=6>",
    '"><iframe srcdoc=x>',
    "]]><!--",
    "&lt;b&gt;&amp;",  # entities in the log stay text: shown as written, not decoded
)


def hostile_log(path: Path) -> Path:
    """A Postfix log whose HELO names, addresses, subjects and reply texts are HTML/JS injections
    (addresses as Postfix accepts them; the rest is free text a client or remote server chooses)."""
    p = PAYLOADS
    lines = [
        "Mar 12 10:00:00 mx postfix/smtpd[100]: connect from evil.example[198.51.100.7]",
        f"Mar 12 10:00:01 mx postfix/smtpd[100]: NOQUEUE: reject: RCPT from evil.example[198.51.100.7]: 554 5.7.1 "
        f"<x@victim.example>: Relay access denied {p[0]}; from=<a{p[1]}@evil.example> to=<x@victim.example> "
        f"proto=ESMTP helo=<{p[2]}>",
        "Mar 12 10:00:02 mx postfix/smtpd[100]: 1A2B3C4D5E: client=evil.example[198.51.100.7]",
        f"Mar 12 10:00:02 mx postfix/cleanup[101]: 1A2B3C4D5E: warning: header Subject: {p[3]} {p[4]} \u202eevil\x1b[31m "
        f"from evil.example[198.51.100.7]; from=<a{p[1]}@evil.example> to=<bob@victim.example> proto=ESMTP helo=<{p[5]}>",
        "Mar 12 10:00:02 mx postfix/cleanup[101]: 1A2B3C4D5E: message-id=<20260312100002.1A2B3C4D5E@evil.example>",
        f"Mar 12 10:00:02 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<a{p[1]}@evil.example>, size=1234, nrcpt=2 (queue active)",
        "Mar 12 10:00:03 mx postfix/smtpd[100]: disconnect from evil.example[198.51.100.7] "
        "ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6",
        f"Mar 12 10:00:04 mx postfix/smtp[103]: 1A2B3C4D5E: to=<bob@victim.example>, relay=mx.victim.example[203.0.113.5]:25, "
        f"delay=2, delays=0.1/0/0.4/1.5, dsn=5.1.1, status=bounced (host mx.victim.example[203.0.113.5] said: 550 5.1.1 "
        f"<bob@victim.example>: {p[2]} {p[6]} {p[7]} unknown (in reply to RCPT TO command))",
        f"Mar 12 10:00:04 mx postfix/smtp[103]: 1A2B3C4D5E: to=<{p[4]}@victim.example>, relay=mx.victim.example[203.0.113.5]:25, "
        f"delay=2, delays=0.1/0/1.9/0, dsn=4.7.1, status=deferred (host mx.victim.example[203.0.113.5] said: 450 4.7.1 "
        f"{p[5]} {p[8]} try again later (in reply to RCPT TO command))",
        "Mar 12 10:00:04 mx postfix/cleanup[101]: 6F7A8B9C0D: message-id=<20260312100004.6F7A8B9C0D@mx.example>",
        "Mar 12 10:00:04 mx postfix/bounce[104]: 1A2B3C4D5E: sender non-delivery notification: 6F7A8B9C0D",
        "Mar 12 10:00:04 mx postfix/qmgr[102]: 6F7A8B9C0D: from=<>, size=3000, nrcpt=1 (queue active)",
        f"Mar 12 10:00:05 mx postfix/smtp[103]: 6F7A8B9C0D: to=<a{p[1]}@evil.example>, relay=evil.example[198.51.100.7]:25, "
        f"delay=1, delays=0/0/0.5/0.5, dsn=5.0.0, status=bounced (host evil.example[198.51.100.7] said: 550 {p[3]} "
        "(in reply to RCPT TO command))",
        "Mar 12 10:00:05 mx postfix/qmgr[102]: 6F7A8B9C0D: removed",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_hostile_log_text_is_shown_escaped_and_never_runs(tab, tmp_path):
    log = hostile_log(tmp_path / "hostile.log")
    page, doc, text = report(tmp_path, [str(log)], "--year", "2026", "--tz", "UTC")
    assert doc["accounting"]["unrecognized"] == 0
    bounces = json.loads(logtrace("bounces", "--json", "--year", "2026", "--tz", "UTC", str(log), codes=(0, 4)).stdout)
    data = json.dumps(doc, ensure_ascii=False) + json.dumps(bounces, ensure_ascii=False)
    reached = [p for p in PAYLOADS if p in data]
    assert len(reached) >= 7, reached  # the payloads reach the report's data (senders, reasons, HELO, replies)

    # in the file: only escaped; nothing of the log becomes markup
    import html as std_html

    assert text.count("<script") == 1 and text.count("<style") == 1 and "<iframe" not in text and "<img" not in text
    assert text.count("</style>") == 1 and text.count("</script>") == 1
    assert "\u202e" not in text and "\x1b" not in text and "\\u202e" in text and "\\x1b" in text
    for p in reached:
        assert p not in text or p.startswith("javascript:"), p  # javascript: text is harmless outside an URL
        assert std_html.escape(p, quote=True) in text, p

    # in the browser: shown as text, nothing ran, nothing was fetched
    t = tab()
    t.open(page)
    body = t.js("document.body.textContent")
    for p in reached:
        assert p in body, p
    assert t.js("window.__pwned") is None
    assert t.js("document.querySelectorAll('script').length") == 1
    assert t.js("document.querySelectorAll('style').length") == 1
    markup = "img, iframe, a[href], object, embed, base, link, form, meta[http-equiv=refresh]"
    assert t.js(f"document.querySelectorAll('{markup}').length") == 0
    assert t.js("Array.from(document.querySelectorAll('*')).flatMap(e => e.getAttributeNames())"
                ".filter(a => a.startsWith('on')).length") == 0
    assert t.js("document.querySelectorAll('#failed li.message').length") == 1
    verdict = t.js("document.querySelector('#failed .verdict').textContent")
    assert PAYLOADS[2] in verdict and PAYLOADS[7] in verdict
    t.assert_clean()
    t.screenshot(tmp_path / "hostile.png")


# ------------------------------------------------------------------ the harness itself


def test_the_harness_sees_console_errors_exceptions_and_requests(tab, tmp_path):
    """A page that logs an error, throws and fetches must fail :meth:`Tab.assert_clean` (so a
    clean report is evidence, not a blind spot)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'>"
                   "<script>console.error('boom'); null.x;</script></body></html>", encoding="utf-8")
    t = tab()
    t.open(bad)
    problems = "\n".join(t.problems())
    assert "console.error" in problems and "boom" in problems
    assert "exception" in problems
    assert "network request: http://127.0.0.1:9/x.png" in problems
    with pytest.raises(AssertionError):
        t.assert_clean()


def test_the_report_of_every_bundled_sample_renders_cleanly(tab, tmp_path):
    """Postfix, Exim and Exchange samples (three counting rules and section sets), one report each."""
    for mta in ("postfix", "exim", "exchange"):
        d = tmp_path / mta
        d.mkdir()
        logs = sorted(str(p) for p in (REPO / "sample_logs" / mta).glob("*.log"))
        page, doc, _ = report(d, logs, "--tz", "UTC")
        t = tab(width=375, height=800)
        t.open(page)
        t.assert_clean()
        assert t.js("document.documentElement.scrollWidth") <= 375, mta
        charts = _charts(t)
        assert {c["name"] for c in charts} >= set(CHARTS) and all(c["svgs"] == 1 and c["w"] > 0 and c["h"] > 0 for c in charts)
        tables = _tables(t)
        for name, rows in doc["sections"].items():
            if rows and isinstance(rows, list):
                assert tables[name]["rows"] == len(rows), (mta, name)
        t.screenshot(d / "report.png")


# ------------------------------------------------------------------ without a browser


def test_the_page_references_nothing_outside_itself_and_pins_its_script_and_style(tmp_path):
    """What the browser tests check at run time, checked on the text (runs where Chromium is missing too)."""
    import base64 as b64
    import hashlib
    import re

    from logtrace.reports.html import CSP

    logs = [str(p) for p in sorted((REPO / "sample_logs" / "postfix").glob("*.log"))]
    _, doc, text = report(tmp_path, logs, "--tz", "UTC")
    markup = re.sub(r">[^<]*<", "><", text)  # the tags and attributes only (log text is escaped between them)
    for bad in ("src=", "href=", "url(", "@import", "srcset", "xlink", "<link", "<iframe", "<img", "<object"):
        assert bad not in markup.lower(), bad
    style = re.search(r"<style>(.*?)</style>", text, re.S)
    script = re.search(r"<script>(.*?)</script>", text, re.S)
    assert style and script and text.count("<script") == 1 and text.count("<style") == 1
    for block, directive in ((style, "style-src"), (script, "script-src")):
        digest = b64.b64encode(hashlib.sha256(block.group(1).encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in CSP
    assert "default-src 'none'" in CSP and f'content="{CSP}"' in text
    assert len(re.findall(r"<figure class=\"chart", text)) == 8 and text.count("<svg") == 8
    tables = sum(1 for rows in doc["sections"].values() if rows and isinstance(rows, list)) + 1  # + accounting
    assert text.count('<table class="sortable"') == tables


def test_esc_makes_markup_controls_and_bidi_inert():
    from logtrace.reports.html import esc

    assert esc('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"
    assert esc("a\u202eb\x1b[31mc\x00") == "a\\u202eb\\x1b[31mc\\x00"
    assert esc(None) == "" and esc(5) == "5"


def test_an_unreadable_only_input_writes_no_page(tmp_path):
    binary = tmp_path / "blob.log"
    binary.write_bytes(bytes(range(256)) * 4)
    page = tmp_path / "report.html"
    r = logtrace("summary", "--format", "html", "-o", str(page), str(binary), codes=(2,))
    assert b"error:" in r.stderr and not page.exists()


def test_redact_reaches_the_page(tmp_path):
    """``--redact`` (issue 18): no address of the log is left in the page, tables and failed list alike."""
    log = str(REPO / "sample_logs/postfix/from-exchange-then-bounce.log")
    _, _, plain = report(tmp_path, [log], "--tz", "UTC")
    page = tmp_path / "redacted.html"
    logtrace("summary", "--format", "html", "--redact", "-o", str(page), "--tz", "UTC", log)
    redacted = page.read_text(encoding="utf-8")
    for address in ("alice@example.net", "bob@example.org"):
        assert address in plain and address not in redacted
    assert "@h-" in redacted and 'class="message"' in redacted


def test_a_report_of_standard_input_lists_the_failed_messages_too(busy_day, tmp_path):
    """The page reads its input twice (the summary, then bounces' list): standard input through a copy
    in $TMPDIR that is removed afterwards, and the list is the one the file gives."""
    import re

    log = busy_day[0].parent / "mail.log"  # the fixture's page was written beside its log
    page = tmp_path / "file.html"
    logtrace("summary", "--format", "html", "--year", "2026", "--tz", "UTC", "-o", str(page), str(log))
    spool = tmp_path / "spool"
    spool.mkdir()
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200", TMPDIR=str(spool))
    with open(log, "rb") as fh:
        r = subprocess.run([sys.executable, "-m", "logtrace", "summary", "--format", "html", "--year", "2026", "--tz", "UTC", "-"],
                           stdin=fh, capture_output=True, cwd=REPO, env=env, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    from_file, from_stdin = page.read_text(encoding="utf-8"), r.stdout.decode()
    count = re.compile(r'<section id="failed"><h2>Accepted, then failed <span class="muted">\(([\d,]+)\)')
    assert count.search(from_stdin) and count.search(from_stdin).group(1) == count.search(from_file).group(1) != "0"
    assert from_stdin.count('class="message') == from_file.count('class="message') > 0
    assert "cannot be read twice" not in from_stdin
    assert not list(spool.iterdir())
