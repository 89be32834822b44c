"""The HTML report of ``logtrace summary --format html``: one self-contained page.

:func:`to_html` renders the summary document (:func:`logtrace.reports.document.to_document`, the
JSON of ``--format json``) and, optionally, the "accepted then failed" messages
(:func:`logtrace.trace.bounces.item_to_json` objects) into one HTML string:

* no network fetches: CSS and the one small script are inline, and a Content-Security-Policy
  allows exactly those two (by hash) and nothing else (no images, fonts, frames or connections);
* charts are inline SVG drawn here (no JavaScript needed to see them): traffic per day and per
  hour, delay percentiles, deferral/bounce/reject reasons, top domains;
* tables sort when their column heading is clicked (the script; without it they stay readable);
* light and dark colours (``prefers-color-scheme``); no horizontal overflow at a 375-px viewport
  (wide tables scroll inside their own box, long words wrap).

Every piece of log text (addresses, HELO names, reply texts, subjects…) is attacker-controlled and
goes through :func:`esc` (HTML escaping, control and bidi characters made visible); no log text is
ever used as a URL, attribute name, tag, style or script.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from logtrace.reports.text import TITLES as TEXT_TITLES

#: at most this many "accepted then failed" messages are listed (the rest are counted, not lost)
FAILED_LIMIT = 500

#: the order of the tables (sections not named here follow, in the document's order)
ORDER: tuple[str, ...] = (
    "per_day", "per_hour", "delivery_by_domain", "delivery_by_relay", "exim_transports", "reception_by_domain",
    "reception_by_client", "exim_relayed", "smtpd_hosts", "senders_by_count", "recipients_by_count", "senders_by_size",
    "recipients_by_size", "delays", "postscreen", "deferral_reasons", "deferral_hosts", "bounce_reasons", "bounce_hosts",
    "reject_actions", "reject_reasons", "reject_hosts", "warnings", "no_size",
)
#: section name → heading: the text report's titles, a few shorter here
TITLES: dict[str, str] = {n: TEXT_TITLES[n] for n in ORDER} | {
    "exim_transports": "Deliveries by transport (eximstats)", "delays": "Delivery delay percentiles"}
#: traffic series of the per-day/per-hour charts, in legend order
SERIES = ("received", "delivered", "deferrals", "bounced", "rejected")  # logtrace.summary/2 (deferrals: attempts)
_SIZE_COLS = re.compile(r"(^|_)bytes($|_)|size")
_DELAY_COLS = re.compile(r"(_s$|^p\d+$|^max$|^min$|^mean$|^avg)")
# C0/C1 controls (but tab/newline), DEL, bidi embeddings/overrides/isolates, line/paragraph separators, BOM
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


# ----------------------------------------------------------------- escaping


def esc(value: object) -> str:
    """Log text → inert HTML text (also safe inside a double-quoted attribute): ``& < > " '`` as
    entities; control, bidi and lone-surrogate characters as visible ``\\xNN``/``\\uNNNN``."""
    text = "" if value is None else str(value)
    text = _INVISIBLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)
    return html.escape(text, quote=True)


# ---------------------------------------------------------------- numbers


def human_size(n: float) -> str:
    """Bytes for people: 1023 B, 1.5 kB, 12.3 MB (powers of 1000, like ``ls --si``)."""
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"  # pragma: no cover - the loop returns


def human_duration(s: float) -> str:
    """Seconds for people: 0.12 s, 42 s, 5 min 3 s, 2 h 10 min, 3 d 4 h."""
    s = float(s)
    if s < 10:
        return f"{s:.2f} s".replace(".00 s", " s")
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {sec} s" if sec else f"{m} min"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def cell(col: str, v: object) -> tuple[str, str | None, bool]:
    """A value → (escaped display text, exact sort/tooltip value or None, numeric?)."""
    if v is None:
        return "", None, False
    if isinstance(v, bool):
        return ("yes" if v else "no"), None, False
    if _is_num(v):
        assert isinstance(v, (int, float))
        exact = repr(v) if isinstance(v, float) else str(v)
        if _SIZE_COLS.search(col):
            return esc(human_size(v)), exact, True
        if _DELAY_COLS.search(col) and not col.endswith("_pct"):
            return esc(human_duration(v)), exact, True
        return esc(f"{v:,}" if isinstance(v, int) else f"{v:,.2f}"), exact, True
    if isinstance(v, (list, dict)):
        return esc(", ".join(map(str, v)) if isinstance(v, list) else ", ".join(f"{k}={x}" for k, x in v.items())), None, False
    return esc(v), None, False


# ------------------------------------------------------------------ tables


def table(name: str, rows: Sequence[dict[str, Any]], caption: str | None = None) -> str:
    """Rows of one section → a sortable ``<table>`` in a box that scrolls sideways by itself."""
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    if not rows:
        return f'<p class="empty" data-section="{esc(name)}">none</p>'
    numeric = {c: any(_is_num(r.get(c)) for r in rows) for c in cols}
    head = "".join(
        f'<th scope="col"{" class=num" if numeric[c] else ""}><button type="button">{esc(c.replace("_", " "))}</button></th>'
        for c in cols)
    body = []
    for r in rows:
        tds = []
        for c in cols:
            text, exact, num = cell(c, r.get(c))
            attrs = (f' class="num" data-v="{esc(exact)}"' if num else "") + (
                f' title="{esc(exact)}"' if num and exact is not None and exact != text.replace(",", "") else "")
            tds.append(f"<td{attrs}>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table class="sortable" data-section="{esc(name)}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def cards(name: str, values: dict[str, Any]) -> str:
    """A flat dict (totals, counts) → a grid of labelled numbers (the ``note`` and nested values left out)."""
    items = []
    for k, v in values.items():
        if k == "note" or isinstance(v, (dict, list)):
            continue
        text, exact, _ = cell(k, v)
        tip = f' title="{esc(exact)}"' if exact is not None and exact != text.replace(",", "") else ""
        items.append(f'<div><dt>{esc(k.replace("_", " "))}</dt><dd{tip}>{text}{"%" if k.endswith("_pct") else ""}</dd></div>')
    return f'<dl class="totals" data-section="{esc(name)}">{"".join(items)}</dl>'


# ------------------------------------------------------------------ charts


def _figure(name: str, title: str, svg: str, note: str = "") -> str:
    return (f'<figure class="chart" data-chart="{esc(name)}"><figcaption>{esc(title)}</figcaption>{svg}'
            f'{f"<p class=note>{esc(note)}</p>" if note else ""}</figure>')


def _svg(title: str, w: int, h: int, parts: Iterable[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" preserveAspectRatio="xMinYMin meet">'
            f'<title>{esc(title)}</title>{"".join(parts)}</svg>')


def _no_data(title: str) -> str:
    return _svg(title, 420, 40, ['<text class="muted" x="8" y="24">no data</text>'])


def _nice_step(v: float, n: int = 4) -> float:
    """A round grid step (1, 2, 2.5 or 5 × 10^k) so that ``n`` steps reach at least ``v``."""
    if v <= 0:
        return 1.0
    raw = v / n
    mag = 10 ** math.floor(math.log10(raw))
    return next(st * mag for st in (1, 2, 2.5, 5, 10) if raw <= st * mag)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def columns_chart(name: str, title: str, rows: Sequence[dict[str, Any]], xcol: str, series: Sequence[str]) -> str:
    """Grouped columns: one group per row (day, hour), one column per series, a legend."""
    series = [s for s in series if any(_is_num(r.get(s)) for r in rows)]
    if not rows or not series:
        return _figure(name, title, _no_data(title))
    w, h, left, top, bottom = 900, 280, 48, 28, 36
    pw, ph = w - left - 8, h - top - bottom
    top_v = max((float(r.get(s) or 0) for r in rows for s in series), default=0)
    step = max(_nice_step(top_v), 1.0)  # counts: whole-number grid lines
    lines = max(1, math.ceil(top_v / step))
    vmax = step * lines
    gw = pw / len(rows)
    bw = max(gw * 0.8 / len(series), 0.5)
    parts = []
    for i in range(lines + 1):  # grid lines and y labels
        y = top + ph - ph * i / lines
        parts.append(f'<line class="grid" x1="{left}" x2="{w - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{esc(f"{step * i:,.0f}")}</text>')
    every = max(1, math.ceil(len(rows) / 24))
    for gi, r in enumerate(rows):
        x0 = left + gi * gw + gw * 0.1
        for si, s in enumerate(series):
            v = float(r.get(s) or 0)
            bh = ph * v / vmax
            parts.append(f'<rect class="s{si + 1}" x="{x0 + si * bw:.2f}" y="{top + ph - bh:.2f}" width="{bw:.2f}" '
                         f'height="{bh:.2f}"><title>{esc(r.get(xcol))}: {esc(s)} {esc(f"{v:,.0f}")}</title></rect>')
        if gi % every == 0:
            label = str(r.get(xcol))
            label = label[5:] if re.fullmatch(r"\d{4}-\d\d-\d\d", label) and len(rows) > 7 else label
            parts.append(f'<text class="axis" x="{left + gi * gw + gw / 2:.1f}" y="{top + ph + 14}" text-anchor="middle">'
                         f'{esc(label)}</text>')
    lx = left
    for si, s in enumerate(series):
        parts.append(f'<rect class="s{si + 1}" x="{lx}" y="6" width="10" height="10"/>'
                     f'<text class="label" x="{lx + 14}" y="15">{esc(s)}</text>')
        lx += 14 + 7 * len(s) + 18
    return _figure(name, title, f'<div class="plot">{_svg(title, w, h, parts)}</div>')


def bars_chart(name: str, title: str, items: Sequence[tuple[str, float, str]], unit: str = "", colour: int = 1) -> str:
    """Horizontal bars, one per (label, value, tooltip); the label above its bar, the value after it."""
    if not items:
        return _figure(name, title, _no_data(title))
    w, row, top = 420, 30, 4
    h = top + row * len(items) + 4
    vmax = max(v for _, v, _ in items) or 1
    parts = []
    for i, (label, v, tip) in enumerate(items):
        y = top + i * row
        bw = max((w - 90) * v / vmax, 1)
        value = human_size(v) if unit == "bytes" else f"{v:,.0f}"
        parts.append(f'<g><title>{esc(tip)}</title><text class="label" x="0" y="{y + 11}">{esc(_short(label, 62))}</text>'
                     f'<rect class="s{colour}" x="0" y="{y + 15}" width="{bw:.1f}" height="11"/>'
                     f'<text class="axis" x="{bw + 4:.1f}" y="{y + 25}">{esc(value)}</text></g>')
    return _figure(name, title, _svg(title, w, h, parts))


_TICKS = ((0.1, "0.1 s"), (1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (86400, "1 d"),
          (864000, "10 d"))


def delay_chart(name: str, title: str, rows: Sequence[dict[str, Any]]) -> str:
    """Delay percentiles per part (delay, before_qmgr, …) on a log scale: one bar per percentile."""
    stats = [c for c in ("p50", "p90", "p99", "max") if any(_is_num(r.get(c)) for r in rows)]
    rows = [r for r in rows if any(_is_num(r.get(c)) for c in stats)]
    if not rows or not stats:
        return _figure(name, title, _no_data(title))
    top_v = max(float(r.get(c) or 0) for r in rows for c in stats)
    ticks = [t for t in _TICKS if t[0] <= max(top_v, 1) * 10][: 8]
    lo, hi = math.log10(0.01), math.log10(ticks[-1][0])
    w, left, top, group = 420, 92, 22, 8 + 9 * len(stats)
    h = top + group * len(rows) + 18
    pw = w - left - 8

    def x(v: float) -> float:
        return left + pw * (math.log10(max(v, 0.01)) - lo) / (hi - lo)

    parts = []
    for v, label in ticks:
        parts.append(f'<line class="grid" x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top - 4}" y2="{h - 16}"/>'
                     f'<text class="axis" x="{x(v):.1f}" y="{h - 4}" text-anchor="middle">{esc(label)}</text>')
    lx = left
    for si, s in enumerate(stats):
        parts.append(f'<rect class="s{si + 1}" x="{lx}" y="4" width="10" height="10"/><text class="label" x="{lx + 13}" y="13">'
                     f'{esc(s)}</text>')
        lx += 52
    for gi, r in enumerate(rows):
        y0 = top + gi * group
        parts.append(f'<text class="label" x="0" y="{y0 + group / 2 + 3:.1f}">{esc(_short(str(r.get("part", "")), 14))}</text>')
        for si, s in enumerate(stats):
            v = float(r.get(s) or 0)
            parts.append(f'<rect class="s{si + 1}" x="{left}" y="{y0 + si * 9 + 2}" width="{max(x(v) - left, 1):.1f}" '
                         f'height="7"><title>{esc(r.get("part"))} {esc(s)}: {esc(human_duration(v))}</title></rect>')
    return _figure(name, title, _svg(title, w, h, parts), "log scale; the table below has the exact values")


def _reason_items(rows: Sequence[dict[str, Any]], limit: int) -> list[tuple[str, float, str]]:
    out = []
    for r in sorted(rows, key=lambda r: -(r.get("count") or 0))[:limit]:
        label = " ".join(str(x) for x in (r.get("class"), r.get("code")) if x)
        text = str(r.get("reason") or r.get("example") or "")
        out.append((f"{label}: {text}" if label else text, float(r.get("count") or 0), f"{label} {text} ({r.get('count')})"))
    return out


def _top_items(rows: Sequence[dict[str, Any]], key: str, value: str, limit: int) -> list[tuple[str, float, str]]:
    rows = [r for r in rows if _is_num(r.get(value))]
    return [(str(r.get(key)), float(r[value]), f"{r.get(key)}: {r[value]:,}") for r in
            sorted(rows, key=lambda r: -r[value])[:limit]]


def charts(sections: dict[str, Any], limit: int = 10) -> list[str]:
    """Every chart of the report (each a ``<figure class="chart">`` with one inline ``<svg>``)."""
    def sec(n: str) -> list[dict[str, Any]]:
        v = sections.get(n)
        return [r for r in v if isinstance(r, dict)] if isinstance(v, list) else []

    out = [columns_chart("per_day", "Traffic per day", sec("per_day"), "day", SERIES),
           columns_chart("per_hour", "Traffic per hour of the day", sec("per_hour"), "hour", SERIES),
           delay_chart("delays", "Delivery delays", sec("delays"))]
    for n, t, c in (("deferral_reasons", "Deferral reasons", 3), ("bounce_reasons", "Bounce reasons", 4),
                    ("reject_reasons", "Reject reasons", 5)):
        out.append(bars_chart(n, f"{t} (top {limit})", _reason_items(sec(n), limit), colour=c))
    out.append(bars_chart("delivery_by_domain", f"Top recipient domains (messages sent, top {limit})",
                          _top_items(sec("delivery_by_domain"), "domain", "sent", limit), colour=2))
    out.append(bars_chart("reception_by_domain", f"Top sender domains (messages received, top {limit})",
                          _top_items(sec("reception_by_domain"), "domain", "count", limit), colour=1))
    return out


# --------------------------------------------------- accepted, then failed


def failed_list(messages: Sequence[dict[str, Any]], limit: int = FAILED_LIMIT) -> str:
    """The "accepted then failed" messages (``bounces --json`` objects): per message its chain
    of hops and, per failed recipient, the one-line verdict."""
    if not messages:
        return '<p class="empty" data-section="failed">none: every accepted message was delivered</p>'
    items = []
    for m in messages[:limit]:
        hops = []
        for hop in m.get("chain") or []:
            link = hop.get("link")
            hops.append(f'<li><span class="host">{esc(hop.get("host"))}</span> <code>{esc(hop.get("queue_id"))}</code>'
                        f'{f" <span class=muted>({esc(link)})</span>" if link and link != "origin" else ""}</li>')
        verdicts = []
        for r in m.get("recipients") or []:
            if not r.get("category"):
                continue  # delivered recipients of a partly failed message
            verdicts.append(f'<li><span class="badge">{esc(r.get("category"))}</span> '
                            f'<span class="rcpt">{esc(r.get("recipient"))}</span>: '
                            f'<span class="verdict">{esc(r.get("summary"))}</span></li>')
        accepted = str(m.get("accepted") or "").replace("T", " ")
        sender = m.get("sender") if m.get("sender") is not None else "<>"
        items.append(f'<li class="message"><p class="head"><span class="muted">{esc(accepted)}</span> from '
                     f'<span class="sender">{esc(sender)}</span></p><ul class="verdicts">{"".join(verdicts)}</ul>'
                     f'<ol class="chain" aria-label="chain">{"".join(hops)}</ol></li>')
    more = len(messages) - limit
    tail = (f'<p class="note">and {more:,} more (<code>logtrace bounces</code> lists every one)</p>' if more > 0 else "")
    return f'<ol class="failed" data-section="failed">{"".join(items)}</ol>{tail}'


# --------------------------------------------------------------- the page


_CSS = """
:root{color-scheme:light dark;--bg:#fdfdfc;--fg:#1d2125;--muted:#5d6670;--line:#d8dde2;--card:#f1f3f5;--acc:#0b5cad;
--s1:#2f6fb3;--s2:#2f9a5d;--s3:#d08a16;--s4:#c2413b;--s5:#7a4fb5}
@media (prefers-color-scheme:dark){:root{--bg:#15181c;--fg:#e3e6ea;--muted:#9aa4ae;--line:#39414a;--card:#1f2429;
--acc:#7cb4ff;--s1:#6aa6ec;--s2:#5cc98b;--s3:#f0b44c;--s4:#f07b74;--s5:#b794f0}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0 auto;padding:0 12px 40px;max-width:72rem;overflow-wrap:anywhere}
h1{font-size:1.45rem;margin:18px 0 4px}h2{font-size:1.2rem;margin:28px 0 8px;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:18px 0 6px}
.muted,.note{color:var(--muted)}.note{font-size:.85rem;margin:4px 0}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.totals{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:8px;margin:0;padding:0}
.totals div{background:var(--card);border-radius:6px;padding:6px 10px}
.totals dt{font-size:.8rem;color:var(--muted)}.totals dd{margin:0;font-size:1.15rem;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr));gap:14px}
.chart{margin:0;padding:8px;background:var(--card);border-radius:6px;min-width:0}
.chart.wide{grid-column:1/-1}.plot{overflow-x:auto}.plot svg{min-width:34rem}
.plot svg text{font-size:13px}.plot svg text.axis{font-size:12px}
figcaption{font-weight:600;margin-bottom:4px}
svg{display:block;width:100%;height:auto;max-width:100%}
svg text{font:11px system-ui,sans-serif;fill:var(--fg)}svg text.axis{fill:var(--muted);font-size:10px}
svg .grid{stroke:var(--line);stroke-width:1}svg .muted{fill:var(--muted)}
.s1{fill:var(--s1)}.s2{fill:var(--s2)}.s3{fill:var(--s3)}.s4{fill:var(--s4)}.s5{fill:var(--s5)}
.scroll{max-width:100%;overflow-x:auto;margin:6px 0 14px}
table{border-collapse:collapse;font-size:.88rem;min-width:50%}
caption{text-align:left;color:var(--muted)}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
td{max-width:42rem}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th button{all:unset;cursor:pointer;font-weight:600;color:var(--acc)}
th button:focus-visible{outline:2px solid var(--acc)}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
ol.failed{padding-left:1.4em}.message{margin:0 0 12px}.message p{margin:0}
.verdicts,.chain{margin:2px 0;padding-left:1.1em}
.chain{display:flex;flex-wrap:wrap;gap:2px 6px;list-style:none;padding-left:1.1em;font-size:.85rem}
.chain li+li::before{content:"\\2192  ";color:var(--muted)}
.badge{display:inline-block;padding:0 6px;border-radius:4px;background:var(--s4);color:var(--bg);font-size:.8rem}
.empty{color:var(--muted)}
"""

_JS = """(function(){
function key(c){var v=c.getAttribute('data-v');
if(v!==null&&v!==''){return [0,parseFloat(v)];}return [1,c.textContent.toLowerCase()];}
function cmp(a,b){if(a[0]!==b[0]){return a[0]-b[0];}return a[1]<b[1]?-1:(a[1]>b[1]?1:0);}
var tables=document.querySelectorAll('table.sortable');
for(var t=0;t<tables.length;t++){(function(table){
var heads=table.tHead.rows[0].cells;
for(var i=0;i<heads.length;i++){(function(th,col){
th.querySelector('button').addEventListener('click',function(){
var asc=th.getAttribute('aria-sort')!=='ascending';
for(var j=0;j<heads.length;j++){heads[j].removeAttribute('aria-sort');}
th.setAttribute('aria-sort',asc?'ascending':'descending');
var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var r=cmp(key(a.cells[col]),key(b.cells[col]));return asc?r:-r;});
for(var k=0;k<rows.length;k++){body.appendChild(rows[k]);}
});})(heads[i],i);}
})(tables[t]);}
})();"""


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


#: the page may run exactly its own script and style and load nothing at all
CSP = (f"default-src 'none'; style-src {_hash(_CSS)}; script-src {_hash(_JS)}; img-src 'none'; font-src 'none'; "
       "connect-src 'none'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")


def to_html(doc: dict[str, Any], failed: Sequence[dict[str, Any]] | None = None, *, top: int = 10,
            failed_note: str | None = None) -> str:
    """The summary document (and the accepted-then-failed messages, ``None``: not looked for) →
    one self-contained HTML page (see the module doc)."""
    sections = doc.get("sections") or {}
    period = doc.get("period") or {}
    counting = doc.get("counting") or {}
    acc = doc.get("accounting") or {}
    span = " – ".join(esc(str(period[k]).replace("T", " ")) for k in ("first", "last") if period.get(k))
    zone = f' <span class="muted">({esc(period["timezone"])})</span>' if period.get("timezone") else ""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f'<meta name="generator" content="{esc(doc.get("generator", "logtrace"))}">',
        f"<title>Mail log summary{': ' + span if span else ''}</title>", f"<style>{_CSS}</style></head><body>",
        f"<header><h1>Mail log summary</h1><p>{span or 'no dated lines'}{zone}</p>",
        '<p class="note">Inputs: ' + (", ".join(f'<code>{esc(i.get("path"))}</code> ({esc(i.get("parser"))})'
                                              for i in doc.get("inputs") or []) or "none") + "</p></header>",
        "<main>", '<section id="totals"><h2>Grand totals',
        f' <span class="muted">({esc(counting.get("rules", ""))} counting rules)</span></h2>',
        cards("totals", doc.get("totals") or {}), f'<p class="note">{esc(counting.get("note", ""))}</p>',
    ]
    if doc.get("totals_eximstats"):
        parts += ["<h3>Exim totals (eximstats rules)</h3>", cards("totals_eximstats", doc["totals_eximstats"])]
    if isinstance(doc.get("unique"), dict):
        parts += ["<h3>Unique messages</h3>", cards("unique", doc["unique"]),
                  f'<p class="note">{esc(doc["unique"].get("note", ""))}</p>']
    parts += ["</section>", '<section id="charts"><h2>Charts</h2><div class="charts">']
    for fig in charts(sections, top or 10):
        wide = 'data-chart="per_day"' in fig or 'data-chart="per_hour"' in fig
        parts.append(fig.replace('class="chart"', 'class="chart wide"', 1) if wide else fig)
    parts.append("</div></section>")
    if failed is not None or failed_note:
        parts.append(f'<section id="failed"><h2>Accepted, then failed <span class="muted">({len(failed or []):,})</span></h2>')
        if failed_note:
            parts.append(f'<p class="note">{esc(failed_note)}</p>')
        if failed is not None:
            parts.append(failed_list(failed))
        parts.append("</section>")
    parts.append('<section id="tables"><h2>Tables</h2>')
    names = [n for n in TITLES if n in sections] + [n for n in sections if n not in TITLES]
    for n in names:
        rows = sections[n]
        title = TITLES.get(n) or TEXT_TITLES.get(n) or n.replace("_", " ").capitalize()
        if isinstance(rows, list):
            parts += [f'<h3 id="t-{esc(n)}">{esc(title)}</h3>', table(n, [r for r in rows if isinstance(r, dict)])]
        elif isinstance(rows, dict):
            parts += [f'<h3 id="t-{esc(n)}">{esc(title)}</h3>', cards(n, rows)]
    if isinstance(doc.get("counts"), dict):
        parts += ["<h3>Counts</h3>", cards("counts", doc["counts"])]
    if isinstance(doc.get("smtpd"), dict):
        parts += ["<h3>SMTPD connections</h3>", cards("smtpd", doc["smtpd"])]
    parts.append("</section>")
    parts += ['<section id="accounting"><h2>Lines read</h2>',
              f'<p>{acc.get("parsed", 0):,} parsed, {acc.get("other", 0):,} recognized and ignored, '
              f'{acc.get("unrecognized", 0):,} unrecognized</p>',
              table("accounting", [r for r in acc.get("by_program") or [] if isinstance(r, dict)])]
    if doc.get("diagnostics"):
        parts.append('<h3>Diagnostics</h3><ul class="diagnostics">' +
                     "".join(f"<li>{esc(d)}</li>" for d in doc["diagnostics"]) + "</ul>")
    parts += ["</section></main>",
              f'<footer class="note">{esc(doc.get("generator", ""))} · {esc(doc.get("schema", ""))}</footer>',
              f"<script>{_JS}</script></body></html>", ""]
    return "\n".join(parts)
