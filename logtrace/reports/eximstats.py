"""eximstats' "Grand total summary" (Debian's eximstats 1.61) over narrow events.

Which rows play which part comes from the eximstats role tags on the rules
(``Tag.EXIMSTATS_ACCEPT``, ``_COMPLETED``, ``_DELIVER``, ``_DEFER``, ``_BOUNCE``,
``_REJECT_RCPT``, ``_REJECT``, ``_CALL_DROPPED``, ``_NOTE``); the counting rules are in the
docstring of :mod:`logtrace.reports.summary` and pinned by ``tests/test_eximstats_crosscheck.py``.
Its "Deliveries by transport" and "Relayed messages" tables: :func:`exim_tables` (``detail`` of a
delivery is its ``T=`` transport), pinned by ``tests/test_report_exim_tables.py``.

The counting itself is one streaming fold, :class:`~logtrace.reports.eximfold.EximFold`: ``logtrace
summary`` feeds it block by block, and the whole-frame functions here fold a frame as one block.
"""

from __future__ import annotations

from typing import Any


#: eximstats' "Grand total summary", in its order.
EXIM_TOTAL_KEYS: tuple[str, ...] = (
    "received", "bytes_received", "received_hosts", "delayed", "failed", "delivered", "delivered_addresses",
    "bytes_delivered", "delivered_hosts", "rejected", "rejected_hosts", "temp_rejected", "temp_rejected_hosts",
    "ham", "ham_hosts", "spam", "spam_hosts",
)

SPAM = r"Action: (?:(?:permanently|temporarily) rejected message|flagged as Spam but accepted): score=\d+\.\d"
HAM = (r"Action: scanned but message isn't spam: score=-?\d+\.\d|Not running SA because SAEximRunCond expanded to false"
       r"|check skipped due to message size")


#: the ``*_hosts`` totals: distinct values, kept as sets in a mergeable state (:func:`exim_parts`)
EXIM_HOST_KEYS = ("received_hosts", "delivered_hosts", "rejected_hosts", "temp_rejected_hosts", "ham_hosts", "spam_hosts")


def exim_totals(ev: Any) -> dict[str, int]:
    """eximstats' Grand total summary over the eximstats-tagged rows of narrow events."""
    counts, hosts = exim_parts(ev)
    return exim_finish([(counts, hosts)])


def exim_finish(parts: list[tuple[dict[str, int], dict[str, list[str]]]]) -> dict[str, int]:
    """Grand totals from one or more :func:`exim_parts` (counts add up, host sets unite)."""
    out: dict[str, int] = {}
    for k in EXIM_TOTAL_KEYS:
        if k in EXIM_HOST_KEYS:
            out[k] = len(set().union(*[set(h.get(k, ())) for _, h in parts])) if parts else 0
        else:
            out[k] = sum(int(c.get(k, 0)) for c, _ in parts)
    return out


def host_word(host: Any, ip: Any) -> Any:
    """``H=`` as eximstats keys it: ``name[ip]`` (``[ip]`` when no name is logged, ``name`` without an IP)."""
    import polars as pl

    bracket = pl.lit("[") + ip + pl.lit("]")
    return pl.coalesce(host + bracket, host, bracket)


#: the transport row of ``=>`` lines without ``T=`` (blackholed addresses; eximstats calls it ``:blackhole:``,
#: logtrace writes it as its other placeholders, so that it cannot be taken for a transport or an address)
BLACKHOLE_TRANSPORT = "(blackhole)"
#: the keys of the relayed-messages counter (:func:`exim_tables`)
RELAY_KEYS = ("client", "sender", "relay", "recipient")


def exim_tables(ev: Any) -> tuple[Any, Any]:
    """eximstats' "Deliveries by transport" and "Relayed messages" as mergeable counts over narrow events:

    * transports: ``transport, messages, bytes`` — per ``=>`` line, its ``T=`` (``(blackhole)`` without one)
      and the message's ``S=`` (0 when its ``<=`` is not in the log), as the grand total's ``delivered``;
    * relayed: ``client, sender, relay, recipient, count`` — a ``=>`` line with an ``H=`` of a message
      whose ``<=`` line had one (received from a host, delivered to a host), keyed by the client
      (``host[ip]``), the envelope sender, the relay (``host[ip]``) and the recipient, lowercased; a
      delivery whose ``<parent>`` address differs from the recipient (aliasing, forwarding) is not relaying.

    :func:`exim_tables_finish` sorts them and applies ``--top``."""
    return exim_fold(ev).tables()


def exim_tables_finish(transports: Any, relayed: Any, top: int, unique: bool = False) -> dict[str, Any]:
    """The ``exim_transports`` and ``exim_relayed`` sections from (possibly merged) :func:`exim_tables` counts;
    ``unique``: ``relayed`` has one row per key already (a fold's merged table: at 8M generated lines, 1.4M rows)."""
    import polars as pl

    t = (transports.group_by("transport").agg(pl.col("messages").sum(), pl.col("bytes").sum())
         .sort(["messages", "transport"], descending=[True, False]).head(top))
    def top_k(lf: Any) -> Any:  # lazily: a top-k, not a sort
        return lf.sort(["count", *RELAY_KEYS], descending=[True, False, False, False, False]).head(top)

    if unique and relayed.height > RELAYED_SLICE:
        # one row per key, so the top of the whole is the top of the slices' tops (a total order): a top-k
        # over 1.4M rows of four strings at once took ~40 MB more at the end of an 8M-line Exim summary
        lr = pl.concat([top_k(part.lazy()).collect() for part in relayed.iter_slices(RELAYED_SLICE)]).lazy()
    else:
        lr = relayed.lazy() if unique else relayed.lazy().group_by(*RELAY_KEYS).agg(pl.col("count").sum())
    r = top_k(lr).select("count", *RELAY_KEYS).collect()
    return {"exim_transports": t, "exim_relayed": r}


#: rows of eximstats' relayed-messages table ranked at a time (:func:`exim_tables_finish`)
RELAYED_SLICE = 100_000


def exim_parts(ev: Any) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(additive counts, distinct host words per ``*_hosts`` key) of eximstats' Grand total summary:
    the mergeable state behind :func:`exim_totals`."""
    return exim_fold(ev).parts()


def exim_fold(ev: Any) -> Any:
    """A whole frame of narrow events folded as one block (:class:`~logtrace.reports.eximfold.EximFold`,
    the same code that folds ``logtrace summary``'s blocks)."""
    from logtrace.reports.eximfold import EximFold  # it imports this module

    fold = EximFold()
    fold.add(ev)
    return fold
