"""The ``--where`` filter language, compiled to a polars expression.

One grammar, one semantics, two back ends: :func:`compile_where` builds a ``pl.Expr`` for
``df.filter(...)`` (both engines' output frames), and :func:`evaluate` applies the same
predicate to one event dict in Python (property tests, the line engine). Every invalid
input raises :class:`~logtrace.errors.QuerySyntaxError` with the 1-based column of the
problem (an offset into the whole string) and a hint; nothing else escapes.

Grammar (keywords ``and or not in is null`` are case-insensitive, so are field names)::

    where      := or_expr
    or_expr    := and_expr ( "or" and_expr )*
    and_expr   := not_expr ( "and" not_expr )*
    not_expr   := "not" not_expr | "(" or_expr ")" | test
    test       := field OP value
                | field ["not"] "in" ( "(" value ("," value)* ")" | value )
                | field "is" ["not"] "null"
    OP         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "=~" | "!~"
    value      := "double quoted" | 'single quoted' | bare-word

A bare word is any run of characters other than whitespace, quotes, ``( ) [ ] { } ,``
and ``= < > ! ~``: ``bounced``, ``mx2``, ``example.com``, ``4.7.1``, ``30s``,
``2026-11-22T06:00+01:00``, ``192.0.2.0/24``, ``2001:db8::/32``. Quote anything else.
Inside quotes ``\\"``/``\\'`` is the quote character; for ``~``/``!~`` the text is
otherwise taken raw (``"@example\\.com$"`` reaches the regex engine unchanged); for the
other operators ``\\\\`` is one backslash, ``\\n``/``\\t`` are newline/tab, and any other
backslash is kept.

Values are typed by the field they are compared with:

=====================  ===============================================================
field type             accepted values
=====================  ===============================================================
text                   any value, compared exactly (case-sensitive; byte order for
                       ``< >``); ``~``/``!~`` take a Rust-regex (polars
                       ``str.contains``: unanchored, ``(?i)`` for case-insensitive;
                       no look-around or back-references), checked at compile time
integer                ``550``, ``-1`` (floats allowed: ``reply_code < 499.5``)
``size`` (bytes)       ``2048``, ``10k``, ``5M``, ``1G``, ``1.5k``, ``10KiB``, ``10kb``
                       (binary multiples: ``k`` = 1024; suffix case-insensitive)
``delay*`` (seconds)   ``90``, ``0.5``, ``30s``, ``5m``, ``2h``, ``1d``, ``1w``,
                       ``500ms``, ``1h30m``
``dsn``                ``5.1.1``: compared part by part as numbers, so ``dsn >= 4.0.0``
                       and ``dsn < 5.1.10`` work; a null dsn, or one that is not three
                       dot-separated numbers, never matches (except ``!=``/``not in``,
                       see nulls)
``ts`` (UTC)           ``2026-11-22``, ``2026-11-22T06``, ``2026-11-22T06:00``,
                       ``…T06:00:05``, ``…T06:00:05.25``, optionally followed by ``Z`` or
                       ``±HH:MM``; without a zone the literal is **UTC**. A literal
                       names the whole period its precision spans: ``ts = 2026-11-22``
                       is that UTC day, ``ts <= 2026-11-22T06`` includes 06:59:59,
                       ``ts > 2026-11-22`` starts at the next midnight
``client_ip relay_ip`` an address or CIDR block, IPv4 or IPv6 (``192.0.2.7``,
                       ``192.0.2.0/24``, ``2001:db8::/32``); ``=``/``in`` test
                       membership (host bits of a block are ignored); only ``= != in
                       not in ~ !~`` apply. Stored addresses are parsed numerically, so
                       ``2001:DB8:0::1`` is in ``2001:db8::/32``; stored text that is not
                       a plain address (zone ``%eth0``, IPv4-mapped dotted IPv6
                       ``::ffff:192.0.2.1``, ``IPv6:`` prefixes) never matches a block
=====================  ===============================================================

Fields are the event schema columns (:data:`COLUMNS`: ``ts host mta program pid kind
rule queue_id message_id next_queue_id next_host sender recipient orig_recipient
relay_host relay_ip relay_port client_host client_ip dsn reply_code reply_text size
nrcpt delay_s delay_before_qmgr_s delay_in_qmgr_s delay_conn_s delay_xmit_s status
detail file line_no reason``) plus these aliases (:data:`ALIASES`):

==========  =================
alias       column
==========  =================
``from``    ``sender``
``to``      ``recipient``
``rcpt``    ``recipient``
``qid``     ``queue_id``
``id``      ``queue_id``
``msgid``   ``message_id``
``relay``   ``relay_host``
``client``  ``client_host``
``delay``   ``delay_s``
``code``    ``reply_code``
``reply``   ``reply_text``
``time``    ``ts``
==========  =================

Nulls (two-valued logic): every test on a null value is false, *including* ``!=``,
``!~`` and ``not in``; ``and``/``or``/``not`` are then plain boolean logic. So on an
event without a relay, ``relay = x`` and ``relay != x`` are both false while
``not relay = x`` is true. ``x != v`` means "``x`` is not null and not ``x = v``" for
every field type (an unparsable dsn or ip is not null: ``dsn != 5.1.1`` matches
``"x.y"``). Use ``x is null`` / ``x is not null`` to be explicit. NaN delays count as null.

Examples::

    kind in (defer, bounce)
    status = bounced and to ~ "@example\\.com$" and dsn >= 5.0.0 and delay > 30s
    host = mx2 or client_ip in 192.0.2.0/24
    not relay ~ "127.0.0.1"
    ts >= 2026-11-22T06:00 and ts < 2026-11-22T07:00 and size > 10M
"""

# Layout: fields (names, aliases, value types) → grammar (text → parse tree, syntax errors)
# → lower (parse tree → predicate IR, typed values) → polars_backend (compile_where) and
# python_backend (evaluate). None of them imports pyparsing or polars at import time.

from __future__ import annotations

from logtrace.query.fields import ALIASES, COLUMNS, FIELD_TYPES, FIELDS  # noqa: F401 - FIELD_TYPES public as before
from logtrace.query.polars_backend import compile_where
from logtrace.query.python_backend import evaluate

__all__ = ["ALIASES", "COLUMNS", "FIELDS", "compile_where", "evaluate"]
