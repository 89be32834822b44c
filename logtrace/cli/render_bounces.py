"""``bounces``' text: one block per failed recipient, its lines broken between words at the console's
width (:mod:`.layout`); plain text off a terminal (cron mail), styles only on one. Log text goes
through :func:`~logtrace.cli.render.safe` first, as everywhere a person reads it."""

from __future__ import annotations

from typing import Any

from logtrace.cli.render import clock_for_people, out_console, safe, stamp, time_heading


#: a reply longer than this (characters) is cut at a word boundary and ends with "…" (``--json`` has it whole)
REPLY_MAX = 400


def atom(s: object) -> str:
    """:func:`safe` text that is laid out as one piece: a tab in it shows as ``\\x09`` (it has no width to count)."""
    return safe(s).replace("\t", "\\x09")


def cut_reply(text: str, limit: int = REPLY_MAX) -> str:
    if len(text) <= limit:
        return text
    head = text[:limit]
    return (head.rsplit(" ", 1)[0] if " " in head else head) + " …"


def ndr_status(r: Any) -> str | None:
    """What became of the bounce notification for a returned recipient (None: not returned); its
    queue ID, with its host where that is not the host the recipient failed at."""
    if r.verdict not in ("bounced", "expired"):
        return None
    ndr = r.ndr
    if ndr is None:
        return "none sent"
    where = f"{ndr['host']}:{ndr['queue_id']}" if ndr.get("host") not in (None, r.host) else str(ndr["queue_id"])
    return f"{where} " + {True: "delivered", False: "FAILED"}.get(ndr.get("delivered"), "outcome unknown")


def print_bounces(items: list[Any], by: str, top: int, group_key: Any, clock: Any = None) -> None:
    """Failed messages grouped by ``by``, one block per failed recipient: a line with when and where
    the message was accepted, sender and recipient, then where it failed (DSN, category/class, what
    became of the bounce notification) and the reply, wrapped between words to the console's width.
    The "accepted" times are in ``clock``'s zone, named in each group's key line."""
    from collections import defaultdict

    from logtrace.cli.layout import Lines, Piece, cells, words

    clock = clock or clock_for_people()
    out = Lines(out_console())
    if not items:
        out.add(words("No accepted message failed: every message accepted in these logs was delivered or relayed.", first=""),
                cont="")
        out.flush()
        return
    groups: dict[str, list[Any]] = defaultdict(list)
    for it in items:
        groups[group_key(it, by)].append(it)
    worst = sum(1 for it in items if it.ndr_problem)
    head = words(f"{len(items)} accepted message(s) not delivered to every recipient", first="")
    if worst:
        tail = words(f"{worst} of them never told the sender (the bounce notification failed or was not sent)", "bold red")
        head += [("; ", tail[0][1], "bold red"), *tail[1:]]
    out.add(head, cont="")
    for key, its in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        out.blank()
        out.add([*words(safe(key), "bold", first=""), ("  ", f"({len(its)})", "bold")], cont="  ")
        heading, each = time_heading(clock, [(it.story.origin.start, it.story.origin.host) for it in its])
        shown = its[: top or None]
        hosts = [atom(it.story.origin.host) or "-" for it in shown]
        qids = [atom(it.story.origin.queue_id) for it in shown]
        hw = min(16, max(map(cells, hosts)))
        qw = min(20, max(map(cells, qids)))
        out.add([("", heading.replace("time", "accepted", 1), "dim"), ("  ", "host", "dim"), ("  ", "queue id", "dim"),
                 ("  ", "<sender> -> <recipient>", "dim")], cont="  ")
        for it, host, qid in zip(shown, hosts, qids):
            o = it.story.origin
            when = stamp(o.start, clock, o.host) + (f" {clock.label(o.start, o.host)}" if each and o.start else "")
            sender = atom(f"<{o.sender}>" if o.sender is not None else "?")
            for r, cls, cat in zip(it.failed, it.classes, it.categories or [r.verdict for r in it.failed]):
                out.add([("", when, ""), ("  ", host, ""), ("  " + " " * (hw - cells(host)), qid, ""),
                         ("  " + " " * (qw - cells(qid)), sender, ""),
                         (" ", f"-> <{atom(r.recipient)}>", "")], cont="      ")
                where = ":".join(atom(x) for x in (r.host, r.queue_id) if x) or "?"
                detail: list[Piece] = [("    ", f"failed at {where}", "")]
                if r.dsn:
                    detail.append(("  ", atom(r.dsn), ""))
                detail.append(("  ", atom(f"{cat}/{cls}"), ""))
                ndr = ndr_status(r)
                if ndr is not None:
                    bad = "bold red" if r.ndr is None or r.ndr.get("delivered") is False else ""
                    detail.append(("  ", f"NDR {atom(ndr)}", bad))
                out.add(detail, cont="      ")
                reply = cut_reply(safe(r.reply or r.summary or ""))
                out.add(words(reply, first="    "), cont="    ")
        if top and len(its) > top:
            out.add([("  ", "…", "dim"), (" ", f"{len(its) - top} more", "dim")])
        out.flush()
