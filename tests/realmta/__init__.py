"""Real-MTA test harness for logtrace.

Starts private, loopback-only Postfix instances (``mx1``, ``mx2``), a scripted
far-end SMTP server and an amavis-like content filter, runs scripted mail
scenarios through them and hands back the log files Postfix wrote (in both
RFC 3164 and RFC 3339 timestamp styles) together with the queue IDs and the
expected per-recipient verdicts.

Entry points: :func:`realmta.postfix.postfix_available`,
:class:`realmta.postfix.PostfixLab`, :func:`realmta.scenarios.run_all`.
"""
