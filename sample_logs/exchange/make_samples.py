"""Build the synthetic Exchange samples in this folder from the documented formats.

Run from the repository root: ``python sample_logs/exchange/make_samples.py``, then
regenerate the goldens (``pytest tests/test_exchange.py --update-goldens``). Every name,
address and IP is invented (example.com/.net/.org, 192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24). Rows follow the 2016/2019 ``#Fields`` set (30 columns) of the Microsoft
message-tracking documentation; shapes of ``recipient-status``/``source-context`` follow
the public corpus rows (``shared/corpus/public/exchange``).
"""

from __future__ import annotations

import csv
import io
import os

HERE = os.path.dirname(os.path.abspath(__file__))

FIELDS = (
    "date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,connector-id,source,event-id,"
    "internal-message-id,message-id,network-message-id,recipient-address,recipient-status,total-bytes,recipient-count,"
    "related-recipient-address,reference,message-subject,sender-address,return-path,message-info,directionality,"
    "tenant-id,original-client-ip,original-server-ip,custom-data,transport-traffic-type,log-id,schema-version"
).split(",")

HEADER = (
    "#Software: Microsoft Exchange Server\r\n#Version: 15.02.1544.004\r\n#Log-type: Message Tracking Log\r\n"
    "#Date: 2024-03-12T10:15:00.000Z\r\n#Fields: " + ",".join(FIELDS) + "\r\n"
)
EX = "ex1.example.com"
EXIP = "192.0.2.10"
NMID = "7c1e0f5a-2b3d-4e5f-8a9b-08dc42aa0001"


def row(**kw: str) -> dict[str, str]:
    base = {f: "" for f in FIELDS}
    base.update({"schema-version": "15.02.1544.004", "transport-traffic-type": "Email", "directionality": "Incoming"})
    for k, v in kw.items():
        base[k.replace("_", "-")] = v
    return base


def write_tracking(name: str, rows: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, FIELDS, lineterminator="\r\n")
    for r in rows:
        w.writerow(r)
    with open(os.path.join(HERE, name), "w", encoding="utf-8-sig", newline="") as f:
        f.write(HEADER + buf.getvalue())


def story() -> None:
    """RECEIVE → SEND to a Postfix relay (queued as 4F8B23C0F2) → relay DSN back to the sender."""
    mid = "<20240312101500.story1@example.net>"
    common = dict(message_id=mid, network_message_id=NMID, sender_address="alice@example.net",
                  return_path="alice@example.net", message_subject="Quarterly report", total_bytes="4521")
    write_tracking("relay-to-postfix-then-dsn.log", [
        row(date_time="2024-03-12T10:15:02.104Z", client_ip="198.51.100.20", client_hostname="mail.example.net",
            server_ip=EXIP, server_hostname=EX, source_context="08DC42AA5F3B0001;2024-03-12T10:15:01.870Z;0",
            connector_id="EX1\\Default Frontend EX1", source="SMTP", event_id="RECEIVE", internal_message_id="5111",
            recipient_address="bob@example.org", recipient_count="1", original_client_ip="198.51.100.20",
            original_server_ip=EXIP, **common),
        row(date_time="2024-03-12T10:15:02.180Z", client_hostname=EX, source="AGENT", event_id="AGENTINFO",
            internal_message_id="5111", recipient_address="bob@example.org", recipient_count="1", **common),
        row(date_time="2024-03-12T10:15:03.420Z", client_ip=EXIP, client_hostname=EX, server_ip="203.0.113.25",
            server_hostname="relay.example.org",
            source_context=";250 2.0.0 Ok: queued as 4F8B23C0F2;ClientSubmitTime:2024-03-12T10:15:01.870Z",
            connector_id="Outbound to Postfix relay", source="SMTP", event_id="SEND", internal_message_id="5111",
            recipient_address="bob@example.org", recipient_status="250 2.1.5 Ok", recipient_count="1",
            directionality="Originating", **common),
        row(date_time="2024-03-12T10:15:03.455Z", client_hostname=EX, source="DSN", event_id="DSN",
            internal_message_id="5112", message_id="<a1b2c3d4e5f6@ex1.example.com>",
            network_message_id="7c1e0f5a-2b3d-4e5f-8a9b-08dc42aa0002", recipient_address="alice@example.net",
            recipient_status="250 2.1.5 Relayed", total_bytes="6120", recipient_count="1", reference=mid,
            message_subject="Relayed: Quarterly report",
            sender_address="MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com", return_path="<>",
            directionality="Originating"),
        row(date_time="2024-03-12T10:15:04.012Z", client_ip=EXIP, client_hostname=EX, server_ip="198.51.100.20",
            server_hostname="mail.example.net",
            source_context=";250 2.0.0 OK id=1rK9xQ-0004Zt-2B;ClientSubmitTime:",
            connector_id="Internet", source="SMTP", event_id="SEND", internal_message_id="5112",
            message_id="<a1b2c3d4e5f6@ex1.example.com>", network_message_id="7c1e0f5a-2b3d-4e5f-8a9b-08dc42aa0002",
            recipient_address="alice@example.net", recipient_status="250 2.1.5 Recipient OK", total_bytes="6120",
            recipient_count="1", reference="5111", message_subject="Relayed: Quarterly report",
            sender_address="MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com", return_path="<>",
            directionality="Originating"),
    ])


def fail() -> None:
    mid = "<CAF00dEX1@mail.example.net>"
    common = dict(message_id=mid, network_message_id="0f0e0d0c-0b0a-4909-8807-08dc42aa0003",
                  sender_address="carol@example.net", return_path="carol@example.net", total_bytes="2048")
    write_tracking("fail-recipnotfound.log", [
        row(date_time="2024-03-12T11:00:00.500Z", client_ip="198.51.100.21", client_hostname="mx.example.net",
            server_ip=EXIP, server_hostname=EX, source="SMTP", event_id="RECEIVE", internal_message_id="6200",
            recipient_address="dave@example.com;nobody@example.com", recipient_count="2",
            connector_id="EX1\\Default Frontend EX1", **common),
        row(date_time="2024-03-12T11:00:00.610Z", server_hostname=EX, source="ROUTING", event_id="FAIL",
            internal_message_id="6200", recipient_address="nobody@example.com",
            recipient_status="550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", recipient_count="1", **common),
        row(date_time="2024-03-12T11:00:00.640Z", server_hostname=EX, source="DSN", event_id="DSN",
            internal_message_id="6201", message_id="<9f8e7d6c5b4a@ex1.example.com>",
            recipient_address="carol@example.net", recipient_count="1", reference=mid, total_bytes="7310",
            sender_address="postmaster@example.com", return_path="<>", directionality="Originating"),
        row(date_time="2024-03-12T11:00:01.020Z", client_hostname=EX, server_ip=EXIP, server_hostname=EX,
            source="STOREDRIVER", event_id="DELIVER", internal_message_id="6200", recipient_address="dave@example.com",
            recipient_count="1", **common),
    ])


def defer() -> None:
    mid = "<defer.1@example.com>"
    common = dict(message_id=mid, network_message_id="11111111-2222-4333-8444-08dc42aa0004",
                  sender_address="erin@example.com", return_path="erin@example.com", total_bytes="10240",
                  directionality="Originating")
    write_tracking("defer-then-deliver.log", [
        row(date_time="2024-03-12T12:00:00.000Z", client_ip=EXIP, client_hostname=EX, server_ip=EXIP,
            server_hostname=EX, source="STOREDRIVER", event_id="RECEIVE", internal_message_id="7300",
            recipient_address="frank@example.org", recipient_count="1", **common),
        row(date_time="2024-03-12T12:00:05.000Z", server_hostname=EX, source="SMTP", event_id="DEFER",
            internal_message_id="7300", recipient_address="frank@example.org",
            recipient_status="451 4.4.0 Primary target IP address responded with: \"421 4.3.2 Service not available.\" "
                             "Attempted failover to alternate host, but that did not succeed.",
            recipient_count="1", **common),
        row(date_time="2024-03-12T12:10:05.000Z", server_hostname=EX, source="SMTP", event_id="DEFER",
            internal_message_id="7300", recipient_address="frank@example.org",
            recipient_status="451 4.4.316 Connection refused [Message=Socket error code 10061]", recipient_count="1",
            **common),
        row(date_time="2024-03-12T12:20:07.000Z", client_ip=EXIP, client_hostname=EX, server_ip="203.0.113.40",
            server_hostname="mx1.example.org", source_context=";250 2.0.0 Ok: queued as 3D2C1B0A99;ClientSubmitTime:",
            connector_id="Internet", source="SMTP", event_id="SEND", internal_message_id="7300",
            recipient_address="frank@example.org", recipient_status="250 2.1.5 Ok", recipient_count="1", **common),
        row(date_time="2024-03-12T12:21:00.000Z", client_hostname=EX, server_ip=EXIP, server_hostname=EX,
            source="STOREDRIVER", event_id="DELIVER", internal_message_id="7301", message_id="<deliver.2@example.net>",
            recipient_address="erin@example.com", recipient_count="1", sender_address="frank@example.org",
            return_path="frank@example.org", total_bytes="3000"),
    ])


def expand() -> None:
    mid = "<dl.1@example.net>"
    members = "gina@example.com;hank@example.com;ivan@example.com"
    common = dict(message_id=mid, network_message_id="aaaaaaaa-bbbb-4ccc-8ddd-08dc42aa0005",
                  sender_address="judy@example.net", return_path="judy@example.net", total_bytes="5555")
    write_tracking("dl-expand-multi-recipient.log", [
        row(date_time="2024-03-12T13:00:00.000Z", client_ip="198.51.100.22", client_hostname="mx.example.net",
            server_ip=EXIP, server_hostname=EX, source="SMTP", event_id="RECEIVE", internal_message_id="8400",
            recipient_address="team@example.com", recipient_count="1", **common),
        row(date_time="2024-03-12T13:00:00.100Z", server_hostname=EX, source="ROUTING", event_id="EXPAND",
            internal_message_id="8400", recipient_address=members,
            recipient_status="250 2.1.5 RESOLVER.GRP.Expanded; distribution list expanded", recipient_count="3",
            related_recipient_address="team@example.com", **common),
        row(date_time="2024-03-12T13:00:00.200Z", server_hostname=EX, source="ROUTING", event_id="TRANSFER",
            internal_message_id="8400", recipient_address=members, recipient_count="3", reference="8401", **common),
        row(date_time="2024-03-12T13:00:01.000Z", client_ip=EXIP, client_hostname=EX, server_ip="192.0.2.11",
            server_hostname="ex2.example.com",
            source_context=";250 2.6.0 <dl.1@example.net> [InternalId=9500, Hostname=ex2.example.com] Queued mail for delivery;ClientSubmitTime:",
            connector_id="Intra-Organization SMTP Send Connector", source="SMTP", event_id="SEND",
            internal_message_id="8401", recipient_address=members,
            recipient_status="250 2.1.5 Recipient OK;550 5.2.1 Mailbox disabled; mailbox unavailable;250 2.1.5 Recipient OK",
            recipient_count="3", **common),
    ])


def all_event_ids() -> None:
    ids = ["RECEIVE", "SUBMIT", "HARECEIVE", "HAREDIRECT", "AGENTINFO", "RESOLVE", "REDIRECT", "EXPAND", "TRANSFER",
           "SEND", "SENDEXTERNAL", "DELIVER", "DEFER", "FAIL", "DSN", "POISONMESSAGE", "DROP", "NOTIFYMAPI", "FROBNICATE"]
    rows = []
    for i, eid in enumerate(ids):
        kw = dict(date_time=f"2024-03-12T14:00:{i:02d}.000Z", server_hostname=EX, source="SMTP", event_id=eid,
                  internal_message_id="9900", message_id="<ids@example.com>", network_message_id=NMID,
                  recipient_address="kate@example.org", recipient_count="1", sender_address="leo@example.com",
                  total_bytes="1234")
        if eid == "SENDEXTERNAL":
            kw.update(client_hostname=EX, server_hostname="relay.example.org", server_ip="203.0.113.25",
                      recipient_status="250 2.0.0 Ok: queued as 9A1B2C3D4E")
        if eid in ("REDIRECT", "RESOLVE"):
            kw.update(related_recipient_address="kate.old@example.org")
        if eid == "POISONMESSAGE":
            kw.update(source="POISONMESSAGE")
        rows.append(row(**kw))
    write_tracking("all-event-ids.log", rows)


def malformed() -> None:
    write_tracking("malformed-rows.log", [
        row(date_time="2024-03-12T15:00:00.000Z", server_hostname=EX, source="SMTP", event_id="RECEIVE",
            internal_message_id="1", recipient_address="a@example.com"),
    ])
    with open(os.path.join(HERE, "malformed-rows.log"), "a", encoding="utf-8", newline="") as f:
        f.write("this is not a csv row\r\n")
        f.write('2024-03-12T15:00:01.000Z,,"unbalanced quote,,,\r\n')
        f.write("not-a-date" + "," * 29 + "\r\n")
        f.write("\r\n")


EXPORT_COLS = ["RunspaceId", "Timestamp", "ClientIp", "ClientHostname", "ServerIp", "ServerHostname", "SourceContext",
               "ConnectorId", "Source", "EventId", "InternalMessageId", "MessageId", "NetworkMessageId", "Recipients",
               "RecipientStatus", "TotalBytes", "RecipientCount", "RelatedRecipientAddress", "Reference", "MessageSubject",
               "Sender", "ReturnPath", "Directionality", "OriginalClientIp", "MessageInfo", "MessageLatency",
               "MessageLatencyType", "EventData", "TransportTrafficType", "SchemaVersion"]


def export_utf16() -> None:
    """PowerShell 5 ``Get-MessageTrackingLog | Export-Csv`` (UTF-16 LE with BOM, en-US stamps, local time)."""
    buf = io.StringIO()
    buf.write("#TYPE Microsoft.Exchange.Management.TransportLogSearchTasks.MessageTrackingEvent\r\n")
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow(EXPORT_COLS)
    rs = "0e5f3a3b-0000-4000-8000-000000000001"
    base = dict.fromkeys(EXPORT_COLS, "")
    rows = [
        dict(base, RunspaceId=rs, Timestamp="3/12/2024 11:15:02 AM", ClientIp="198.51.100.20",
             ClientHostname="mail.example.net", ServerIp=EXIP, ServerHostname="EX1", Source="SMTP", EventId="RECEIVE",
             InternalMessageId="5111", MessageId="<20240312101500.story1@example.net>", NetworkMessageId=NMID,
             Recipients="bob@example.org", TotalBytes="4521", RecipientCount="1", MessageSubject="Quarterly report",
             Sender="alice@example.net", ReturnPath="alice@example.net", Directionality="Incoming"),
        dict(base, RunspaceId=rs, Timestamp="3/12/2024 11:15:03 AM", ClientIp=EXIP, ClientHostname="EX1",
             ServerIp="203.0.113.25", ServerHostname="relay.example.org",
             SourceContext=";250 2.0.0 Ok: queued as 4F8B23C0F2;ClientSubmitTime:", Source="SMTP", EventId="SEND",
             InternalMessageId="5111", MessageId="<20240312101500.story1@example.net>", NetworkMessageId=NMID,
             Recipients="bob@example.org", RecipientStatus="250 2.1.5 Ok", TotalBytes="4521", RecipientCount="1",
             Sender="alice@example.net", ReturnPath="alice@example.net", Directionality="Originating"),
        dict(base, RunspaceId=rs, Timestamp="3/12/2024 1:00:00 PM", ServerHostname="EX1", Source="ROUTING",
             EventId="EXPAND", InternalMessageId="8400", MessageId="<dl.1@example.net>",
             Recipients="System.String[]", RecipientStatus="System.String[]", RecipientCount="3",
             RelatedRecipientAddress="team@example.com", Sender="judy@example.net"),
        dict(base, RunspaceId=rs, Timestamp="3/12/2024 1:00:01 PM", ServerHostname="EX1", Source="ROUTING",
             EventId="FAIL", InternalMessageId="6200", MessageId="<CAF00dEX1@mail.example.net>",
             Recipients="nobody@example.com;other@example.com",
             RecipientStatus="550 5.1.1 RESOLVER.ADR.RecipNotFound; not found;550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
             RecipientCount="2", Sender="carol@example.net"),
    ]
    for r in rows:
        w.writerow([r[c] for c in EXPORT_COLS])
    with open(os.path.join(HERE, "export-csv-utf16le.log"), "wb") as f:
        f.write(b"\xff\xfe" + buf.getvalue().encode("utf-16-le"))


def exo() -> None:
    """``Get-MessageTrace | Export-Csv -NoTypeInformation`` (PowerShell 7, UTF-8)."""
    cols = ["Organization", "MessageId", "Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP",
            "FromIP", "Size", "MessageTraceId", "StartDate", "EndDate", "Index"]
    data = [
        ["contoso.onmicrosoft.com", "<exo.1@example.net>", "3/12/2024 10:15:02 AM", "alice@example.net",
         "bob@example.com", "Hello", "Delivered", "", "198.51.100.30", "15324", "6f0c3b1e-8a0d-4b3a-9a1e-08dc42aa1001",
         "3/10/2024 12:00:00 AM", "3/13/2024 12:00:00 AM", "0"],
        ["contoso.onmicrosoft.com", "<exo.2@example.com>", "3/12/2024 10:16:40 AM", "bob@example.com",
         "nobody@example.org", "Re: Hello", "Failed", "203.0.113.50", "", "20480",
         "6f0c3b1e-8a0d-4b3a-9a1e-08dc42aa1002", "3/10/2024 12:00:00 AM", "3/13/2024 12:00:00 AM", "1"],
        ["contoso.onmicrosoft.com", "<exo.3@example.net>", "3/12/2024 10:17:00 AM", "spam@example.net",
         "bob@example.com", "You won", "FilteredAsSpam", "", "198.51.100.31", "999",
         "6f0c3b1e-8a0d-4b3a-9a1e-08dc42aa1003", "3/10/2024 12:00:00 AM", "3/13/2024 12:00:00 AM", "2"],
        ["contoso.onmicrosoft.com", "<exo.4@example.com>", "3/12/2024 10:18:00 AM", "bob@example.com",
         "slow@example.org", "Later", "Pending", "", "", "1200",
         "6f0c3b1e-8a0d-4b3a-9a1e-08dc42aa1004", "3/10/2024 12:00:00 AM", "3/13/2024 12:00:00 AM", "3"],
    ]
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(cols)
    w.writerows(data)
    with open(os.path.join(HERE, "exo-message-trace.log"), "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())


def protocol() -> None:
    hdr = ("#Software: Microsoft Exchange Server\r\n#Version: 15.02.1544.004\r\n#Log-type: SMTP Send Protocol Log\r\n"
           "#Date: 2024-03-12T10:15:03.000Z\r\n"
           "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n")
    sid = "08DC42AA5F3B0100"
    conn = "Outbound to Postfix relay"
    steps = [
        ("+", "", ""), ("*", "", "attempting to connect"), ("<", "220 relay.example.org ESMTP Postfix", ""),
        (">", "EHLO ex1.example.com", ""), ("<", "250-relay.example.org", ""), ("<", "250 PIPELINING", ""),
        ("*", "", "sending message with RecordId 5111 and InternetMessageId <20240312101500.story1@example.net>"),
        (">", "MAIL FROM:<alice@example.net> SIZE=4521", ""), (">", "RCPT TO:<bob@example.org>", ""),
        ("<", "250 2.1.0 Ok", ""), ("<", "250 2.1.5 Ok", ""), (">", "DATA", ""),
        ("<", "354 End data with <CR><LF>.<CR><LF>", ""), ("<", "250 2.0.0 Ok: queued as 4F8B23C0F2", ""),
        (">", "QUIT", ""), ("<", "221 2.0.0 Bye", ""), ("-", "", "Local"),
    ]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for i, (ev, data, ctx) in enumerate(steps):
        w.writerow([f"2024-03-12T10:15:03.{100 + i:03d}Z", conn, sid, i, "192.0.2.10:41220", "203.0.113.25:25", ev, data, ctx])
    with open(os.path.join(HERE, "smtp-send-protocol-queued-as.log"), "w", encoding="utf-8", newline="") as f:
        f.write(hdr + buf.getvalue())

    hdr_r = hdr.replace("SMTP Send Protocol Log", "SMTP Receive Protocol Log")
    sid = "08DC42AA5F3B0001"
    conn = "EX1\\Default Frontend EX1"
    steps = [
        ("+", "", ""), (">", "220 ex1.example.com Microsoft ESMTP MAIL Service ready", ""),
        ("<", "EHLO mail.example.net", ""), (">", "250 ex1.example.com Hello [198.51.100.20]", ""),
        ("<", "MAIL FROM:<alice@example.net> SIZE=4521", ""), ("<", "RCPT TO:<bob@example.org>", ""),
        (">", "250 2.1.0 Sender OK", ""), (">", "250 2.1.5 Recipient OK", ""), ("<", "DATA", ""),
        (">", "354 Start mail input; end with <CRLF>.<CRLF>", ""),
        (">", "250 2.6.0 <20240312101500.story1@example.net> [InternalId=5111, Hostname=ex1.example.com] "
              "4521 bytes in 0.120, 36.792 KB/sec Queued mail for delivery", ""),
        ("<", "QUIT", ""), (">", "221 2.0.0 Service closing transmission channel", ""), ("-", "", "Remote(Close)"),
    ]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for i, (ev, data, ctx) in enumerate(steps):
        w.writerow([f"2024-03-12T10:15:01.{800 + i:03d}Z", conn, sid, i, "192.0.2.10:25", "198.51.100.20:50321", ev, data, ctx])
    with open(os.path.join(HERE, "smtp-receive-protocol-internalid.log"), "w", encoding="utf-8", newline="") as f:
        f.write(hdr_r + buf.getvalue())


if __name__ == "__main__":
    story()
    fail()
    defer()
    expand()
    all_event_ids()
    malformed()
    export_utf16()
    exo()
    protocol()
