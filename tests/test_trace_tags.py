"""The correlator's facts come from rule tags, not MTA names (logtrace/parsing/tags.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from logtrace.events import Event, EventKind as K
from logtrace.trace.lifecycles import instance_of
from logtrace.trace.verdicts import is_final_delivery

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _ev(mta: str, rule: str, program: str, **kw) -> Event:
    return Event(ts=T, host="mx", mta=mta, program=program, pid=1, kind=kw.pop("kind", K.DELIVER), rule=rule, **kw)


def test_instance_comes_from_the_program_only_for_tagged_rules():
    assert instance_of(_ev("postfix", "postfix.qmgr.removed", "postfix-out/qmgr")) == "postfix-out"
    assert instance_of(_ev("postfix", "not-a-rule", "postfix-out/qmgr")) == "postfix"  # no tag: one queue per host
    assert instance_of(_ev("exim", "exim.main.deliver", "exim/main")) == "exim"


@pytest.mark.parametrize("ev, final", [
    (_ev("exim", "exim.main.deliver", "exim"), True),  # FINAL_IF_NO_RELAY, no relay
    (_ev("exim", "exim.main.deliver", "exim", relay_host="mx.example.org", relay_ip="192.0.2.1"), False),
    (_ev("exchange", "exchange.msgtrk.row", "MSExchangeTransport", status="DELIVER"), True),  # conditional FINAL
    (_ev("exchange", "exchange.msgtrk.row", "MSExchangeTransport", status="SEND"), False),
    (_ev("someplugin", "someplugin.deliver", "someplugin"), False),  # untagged, no generic sign
    (_ev("someplugin", "someplugin.deliver", "someplugin/lmtp"), True),  # generic: a local delivery agent
    (_ev("someplugin", "someplugin.deliver", "x", relay_ip="unix:/run/dovecot/lmtp"), True),  # generic: unix socket
])
def test_final_delivery_is_known_by_tags_and_generic_signs(ev, final):
    assert is_final_delivery(ev) is final


def test_exo_historical_search_deliver_is_final():
    ev = _ev("exchange", "exchange.exo.row", "ExchangeOnline", status="Deliver")
    assert is_final_delivery(ev)
