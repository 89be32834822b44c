"""``follow`` on public real-log fixtures (read from ../shared; they carry no licence to copy)."""

from __future__ import annotations

import pytest

from conftest import corpus_dir
from logtrace.trace.follow import follow, story_to_json
from logtrace.parsing.rules import ParseOptions


def _one(path, qid, year):
    res = follow([str(path)], queue_id=qid, options=ParseOptions(year=year, tz="UTC"))
    assert len(res.stories) == 1
    return story_to_json(res.stories[0])


def test_amavis_reinjection_logged_before_the_line_naming_it_is_linked():
    # the new queue ID's smtpd/cleanup/qmgr lines come BEFORE "queued as 8B22B43C3"
    path = corpus_dir("postfix") / "aso-tcd-amavis-reinjection-forwarded-as.log"
    m = _one(path, "34B3F4317", 2007)
    assert [(c["queue_id"], c["link"]) for c in m["chain"]] == [("34B3F4317", "origin"), ("8B22B43C3", "content-filter")]
    r = m["recipients"][0]
    assert r["verdict"] == "relayed" and r["next_queue_id"] == "9627443F0"
    assert "forwarded" in r["summary"]
    # following the re-injected ID finds the same story (links work backwards too)
    assert _one(path, "8B22B43C3", 2007)["chain"][0]["queue_id"] == "34B3F4317"


def test_bounce_then_ndr_relayed_to_an_exim_hop():
    path = corpus_dir("postfix") / "wendrowycz-unit-bounce-ndr-exim-hop.log"
    m = _one(path, "608FE2A1CB9", 2014)
    assert [c["link"] for c in m["chain"]] == ["origin", "ndr"]
    r = m["recipients"][0]
    assert (r["verdict"], r["dsn"]) == ("bounced", "5.4.4")
    assert r["ndr"]["queue_id"] == "63ED52A1CBB"
    assert r["ndr"]["delivered"] is True and r["ndr"]["verdict"] == "relayed"  # 250 OK id=1WUWWi-0000ig-Gu
    assert len(r["evidence"]) >= 2


def test_deferred_message_still_queued_at_log_end_says_so():
    path = corpus_dir("postfix") / "wendrowycz-unit-bounce-ndr-exim-hop.log"
    m = _one(path, "216F22A1CBC", 2014)
    r = m["recipients"][0]
    assert r["verdict"] == "deferred"
    assert "still in the queue" in r["summary"] and "before the log ends" in r["summary"]


@pytest.mark.parametrize("qid", ["2376E65202A"])
def test_two_recipients_relayed_in_one_transaction(qid):
    path = corpus_dir("postfix") / "wendrowycz-unit-bounce-ndr-exim-hop.log"
    m = _one(path, qid, 2014)
    assert sorted(r["verdict"] for r in m["recipients"]) == ["relayed", "relayed"]
    assert {r["next_queue_id"] for r in m["recipients"]} == {"651CA1198044"}


def test_a_chain_longer_than_the_round_limit_is_not_cut_silently(tmp_path):
    """follow searches linked IDs round by round, at most MAX_ROUNDS; past that it says so (issue 15)."""
    import subprocess
    import sys

    from logtrace.trace.follow import MAX_ROUNDS

    qids = [f"{0xA0000 + i:05X}0C0F{i:02d}" for i in range(MAX_ROUNDS + 4)]
    lines = []
    for i, q in enumerate(qids[:-1]):
        s = f"Nov 22 06:{i:02d}"
        lines += [f"{s}:00 mx{i} postfix/smtpd[1]: {q}: client=prev.example.org[192.0.2.1]",
                  f"{s}:01 mx{i} postfix/qmgr[2]: {q}: from=<a@example.org>, size=100, nrcpt=1 (queue active)",
                  f"{s}:02 mx{i} postfix/smtp[3]: {q}: to=<b@example.net>, relay=mx{i + 1}.example.org[192.0.2.2]:25, "
                  f"delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {qids[i + 1]})",
                  f"{s}:03 mx{i} postfix/qmgr[2]: {q}: removed"]
    p = tmp_path / "mail.log"
    p.write_text("\n".join(lines) + "\n")
    r = subprocess.run([sys.executable, "-m", "logtrace", "follow", qids[0], str(p), "--year", "2026", "--tz", "UTC"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert "Traceback" not in r.stderr
    assert f"stopped following after {MAX_ROUNDS} rounds of linked IDs" in r.stderr, r.stderr
    assert "hint: follow one of them to continue: logtrace follow " in r.stderr
