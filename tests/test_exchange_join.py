"""Exchange org-wide joins (issue 15): one story per message across submission, transport,
delivery and servers by ``network-message-id``; ``follow`` by that GUID; short/FQDN host
names; RESOLVE/REDIRECT recipients reported as the address the sender used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from logtrace.parsing.rules import ParseOptions
from logtrace.trace.follow import follow, story_to_json

SAMPLES = REPO / "sample_logs" / "exchange"
TWO_SERVERS = [str(SAMPLES / "submission-transport-delivery-ex1.log"), str(SAMPLES / "submission-transport-delivery-ex2.log")]
RESOLVE = [str(SAMPLES / "resolve-secondary-address.log")]
GUID = "5f0e3c1a-9b2d-4c7e-a1f0-08dc4b6e0001"
CHAIN = [("EX1.corp.example.com", "3001", "origin"), ("EX1.corp.example.com", "7001", "network-message-id"),
         ("EX2.corp.example.com", "4101", "network-message-id"), ("EX2.corp.example.com", "5201", "network-message-id")]


def _stories(paths, qid):
    return [story_to_json(s) for s in follow(paths, queue_id=qid, options=ParseOptions(tz="UTC")).stories]


@pytest.mark.parametrize("qid", ["3001", "7001", "4101", "5201", GUID, GUID.upper()])
def test_one_story_across_submission_transport_delivery_and_servers(qid):
    (m,) = _stories(TWO_SERVERS, qid)
    assert [(c["host"], c["queue_id"], c["link"]) for c in m["chain"]] == CHAIN
    (r,) = m["recipients"]
    assert r["recipient"] == "bob@corp.example.com"
    assert r["verdict"] == "delivered" and r["host"] == "EX2.corp.example.com" and r["queue_id"] == "5201"
    assert r["evidence"][-1].endswith("submission-transport-delivery-ex2.log:9")
    assert m["delivered"] is True
    assert m["sender"] == "alice@corp.example.com"


def test_follow_cli_exits_0_for_the_delivered_message():
    for q in ("7001", GUID.upper()):
        out = subprocess.run([sys.executable, "-m", "logtrace", "follow", q, *TWO_SERVERS, "--tz", "UTC"],
                             capture_output=True, text=True, cwd=REPO)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "network-message-id" in out.stdout and "DELIVERED" in out.stdout


def test_an_unknown_guid_is_not_found():
    assert _stories(TWO_SERVERS, "00000000-0000-4000-8000-000000000000") == []


def test_one_server_only_still_gives_the_hops_it_has():
    (m,) = _stories(TWO_SERVERS[:1], "3001")
    assert [c["queue_id"] for c in m["chain"]] == ["3001", "7001"]
    (r,) = m["recipients"]
    assert r["verdict"] == "relayed" and r["relay"].startswith("EX2.corp.example.com")


def test_resolve_to_a_secondary_address_reports_the_address_the_sender_used():
    for q in ("8001", "8002"):
        (m,) = _stories(RESOLVE, q)
        assert [(c["queue_id"], c["link"]) for c in m["chain"]] == [("8001", "origin"), ("8002", "network-message-id")]
        (r,) = m["recipients"]
        assert (r["recipient"], r["verdict"]) == ("sales@corp.example.com", "delivered")


def test_redirect_reports_the_original_recipient():
    (m,) = _stories(RESOLVE, "8011")
    (r,) = m["recipients"]
    assert (r["recipient"], r["verdict"]) == ("dave@corp.example.com", "delivered")
    assert len(m["chain"]) == 1  # EX1 and EX1.corp.example.com are one host: one lifecycle


def test_follow_to_the_address_the_sender_used():
    res = follow(RESOLVE, recipient="sales@corp.example.com", options=ParseOptions(tz="UTC"))
    (s,) = res.stories
    assert [(r.recipient, r.verdict) for r in s.recipients] == [("sales@corp.example.com", "delivered")]


def _two_fqdns(tmp_path):
    """EX1 and two different FQDNs starting with EX1: the short name stays apart."""
    lines = (SAMPLES / "submission-transport-delivery-ex1.log").read_text(encoding="utf-8-sig").splitlines()
    out = [l for l in lines if l.startswith("#")]
    rows = [l for l in lines if not l.startswith("#")]
    out += rows
    # another message on a different server whose first label is EX1 too
    out += [rows[-1].replace("5f0e3c1a-9b2d-4c7e-a1f0-08dc4b6e0001", "5f0e3c1a-9b2d-4c7e-a1f0-08dc4b6e0099")
            .replace("EX1.corp.example.com", "EX1.lab.example.net").replace(",7001,", ",9901,")
            .replace("CAEX1-submit-0001", "CAEX1-lab-0099")]
    p = tmp_path / "two-fqdns.log"
    p.write_text("\n".join(out) + "\n", encoding="utf-8")
    return [str(p)]


def test_two_fqdns_with_one_first_label_stay_apart_and_the_story_says_so(tmp_path):
    (m,) = _stories(_two_fqdns(tmp_path), "3001")
    assert m["chain"][0]["host"] == "EX1"
    assert m["chain"][1]["host"] == "EX1.corp.example.com"
    assert any("'ex1'" in n and "not joined" in n for n in m["notes"])


def test_short_and_full_name_are_one_host_without_a_note():
    (m,) = _stories(TWO_SERVERS, "3001")
    assert not [n for n in m["notes"] if "not joined" in n]


def test_a_group_expanded_into_a_new_lifecycle_is_one_story_with_the_members_verdicts():
    path = [str(SAMPLES / "dl-expand-multi-recipient.log")]
    a, b = _stories(path, "8400"), _stories(path, "8401")
    assert a == [dict(b[0], query="8400")]
    (m,) = a
    assert [(c["queue_id"], c["link"]) for c in m["chain"]] == [("8400", "origin"), ("8401", "network-message-id")]
    assert [r["recipient"] for r in m["recipients"]] == ["gina@example.com", "hank@example.com", "ivan@example.com"]
    assert m["sender"] == "judy@example.net" and m["notes"] == []


def test_a_guid_shaped_queue_id_is_still_found():
    # Exchange Online message trace: queue_id is the MessageTraceId, a GUID (not tagged as an org-wide ID)
    path = [str(SAMPLES / "exo-message-trace.log")]
    (m,) = _stories(path, "6f0c3b1e-8a0d-4b3a-9a1e-08dc42aa1001")
    assert m["chain"][0]["queue_id"] == "6f0c3b1e-8a0d-4b3a-9a1e-08dc42aa1001"


def test_resolve_back_only_to_an_address_the_message_was_received_for():
    # all-event-ids.log: RECEIVE names kate@, a RESOLVE row says kate.old@ → kate@: kate@ stays
    (m,) = _stories([str(SAMPLES / "all-event-ids.log")], "9900")
    assert [r["recipient"] for r in m["recipients"]] == ["kate@example.org"]


SEND_HEADER = ("#Software: Microsoft Exchange Server\n#Version: 15.02.1544.004\n#Log-type: Message Tracking Log\n"
               "#Fields: date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,connector-id,source,"
               "event-id,internal-message-id,message-id,network-message-id,recipient-address,recipient-status,total-bytes,"
               "recipient-count,related-recipient-address,reference,message-subject,sender-address,return-path,message-info,"
               "directionality,tenant-id,original-client-ip,original-server-ip,custom-data,transport-traffic-type,log-id,"
               "schema-version\n")


@pytest.mark.parametrize("status, verdict, dsn", [
    ("250 2.0.0 OK;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "bounced", "5.1.10"),
    ("250 2.0.0 OK;451 4.4.0 Primary target IP address responded with: 451 try later", "deferred", "4.4.0"),
])
def test_a_send_row_with_a_per_recipient_failure_fails_that_recipient_only(tmp_path, status, verdict, dsn):
    """Documented format: recipient-status holds one entry per recipient-address, ';'-separated,
    in the same order; a 5xx (4xx) entry on a SEND row is that recipient's failure (deferral)."""
    log = tmp_path / "MSGTRK2024031213-1.LOG"
    rows = [
        "2024-03-12T13:00:00.000Z,203.0.113.5,mail.example.net,192.0.2.10,ex1.example.com,08DC42AA00000001,"
        "Default Frontend EX1,SMTP,RECEIVE,8800,<send.1@example.net>,aaaaaaaa-bbbb-4ccc-8ddd-08dc42aa0777,"
        "ok@partner.example;gone@partner.example,,5555,2,,,send,judy@example.net,judy@example.net,,Incoming,,,,,Email,,15.02.1544.004",
        "2024-03-12T13:00:02.000Z,192.0.2.10,ex1.example.com,198.51.100.25,mx.partner.example,"
        "\";250 2.0.0 Ok: queued as 4F8B23C0F2;ClientSubmitTime:\",Internet Send Connector,SMTP,SENDEXTERNAL,8800,"
        "<send.1@example.net>,aaaaaaaa-bbbb-4ccc-8ddd-08dc42aa0777,ok@partner.example;gone@partner.example,"
        f"\"{status}\",5555,2,,,send,judy@example.net,judy@example.net,,Originating,,,,,Email,,15.02.1544.004",
    ]
    log.write_text(SEND_HEADER + "\n".join(rows) + "\n")
    (m,) = _stories([str(log)], "8800")
    by = {r["recipient"]: r for r in m["recipients"]}
    assert by["ok@partner.example"]["verdict"] == "relayed"
    assert by["ok@partner.example"]["next_queue_id"] == "4F8B23C0F2"
    bad = by["gone@partner.example"]
    assert bad["verdict"] == verdict and bad["dsn"] == dsn and bad["next_queue_id"] is None
    assert bad["reply"] == status.split(";", 1)[1]
    assert bad["evidence"] == [f"{log}:6"]
    assert m["delivered"] is False
