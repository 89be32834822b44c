"""``follow`` across MTAs: Exchange → Postfix → bounce, Postfix → Exim, from logs given together."""

from __future__ import annotations

from pathlib import Path

from logtrace.trace.follow import follow, story_to_json
from logtrace.parsing.rules import ParseOptions

S = Path(__file__).resolve().parents[1] / "sample_logs"
EXCH = str(S / "exchange" / "relay-to-postfix-then-dsn.log")
PF = str(S / "postfix" / "from-exchange-then-bounce.log")
OPTS = ParseOptions(year=2024, tz="UTC")


def test_exchange_to_postfix_then_bounce_from_two_logs():
    res = follow([EXCH, PF], queue_id="5111", options=OPTS)
    assert len(res.stories) == 1  # AGENTINFO and SEND rows belong to the same Exchange lifecycle
    m = story_to_json(res.stories[0])
    assert [(c["mta"], c["queue_id"], c["link"]) for c in m["chain"]] == [
        ("exchange", "5111", "origin"), ("postfix", "4F8B23C0F2", "relay"), ("postfix", "6A1B2C3D4E", "ndr")]
    r = m["recipients"][0]
    assert (r["recipient"], r["verdict"], r["dsn"], r["host"]) == ("bob@example.org", "bounced", "5.1.1", "relay")
    assert r["summary"].startswith("ex1.example.com relayed it to relay, which accepted it as 4F8B23C0F2")
    assert r["ndr"]["delivered"] is True  # the NDR went back into Exchange: [InternalId=5113, …]
    assert any(e.startswith(EXCH) for e in r["evidence"]) and any(e.startswith(PF) for e in r["evidence"])


def test_following_the_postfix_id_finds_the_exchange_origin():
    res = follow([EXCH, PF], queue_id="4F8B23C0F2", options=OPTS)
    m = story_to_json(res.stories[0])
    assert m["chain"][0]["queue_id"] == "5111" and m["chain"][0]["mta"] == "exchange"


def test_only_the_exchange_log_says_relayed_to_postfix():
    res = follow([EXCH], queue_id="5111", options=OPTS)
    r = story_to_json(res.stories[0])["recipients"][0]
    assert r["verdict"] == "relayed" and r["next_queue_id"] == "4F8B23C0F2"


def test_by_message_id_across_both_logs():
    res = follow([EXCH, PF], message_id="<20240312101500.story1@example.net>", options=OPTS)
    assert len(res.stories) == 1
    assert story_to_json(res.stories[0])["recipients"][0]["verdict"] == "bounced"


def test_postfix_to_exim_then_bounce_with_exim_ndr():
    pf = str(S / "postfix" / "relay-to-exim.log")
    ex = str(S / "exim" / "bounce-with-ndr.log")
    res = follow([pf, ex], queue_id="3C4D5E6F70", options=ParseOptions(year=2020, tz="UTC"))
    m = story_to_json(res.stories[0])
    assert [(c["mta"], c["queue_id"], c["link"]) for c in m["chain"]] == [
        ("postfix", "3C4D5E6F70", "origin"), ("exim", "1jmKso-0009d4-Uf", "relay"), ("exim", "1jmKsr-00040h-1G", "ndr")]
    assert m["chain"][1]["host"] == "exim.example.org"  # mainlog has no host: named after the relay
    r = m["recipients"][0]
    assert (r["verdict"], r["dsn"]) == ("bounced", "5.2.0")
    assert r["ndr"]["queue_id"] == "1jmKsr-00040h-1G" and r["ndr"]["delivered"] is True
    # and backwards: the Exim ID finds the Postfix origin
    res = follow([pf, ex], queue_id="1jmKso-0009d4-Uf", options=ParseOptions(year=2020, tz="UTC"))
    assert story_to_json(res.stories[0])["chain"][0]["queue_id"] == "3C4D5E6F70"
