"""Input layer: compression by magic, broken bytes, rotation order, bad paths."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os

import pytest

from conftest import IN_CI, unavailable
from logtrace.input import reader
from logtrace.parsing.scan import parse
from logtrace.errors import Diagnostic, InputError
from logtrace.parsing.rules import ParseOptions

OPTS = ParseOptions(year=2026, tz="UTC")
LINE = "Nov 22 06:25:14 mx1 postfix/qmgr[1]: 4F8B23C0F2: from=<a@example.org>, size=10, nrcpt=1 (queue active)\n"


def _lines(path, **kw):
    return list(reader.iter_lines(reader.expand([str(path)])[0], kw.get("diags", [])))


@pytest.mark.parametrize("opener,suffix", [(gzip.open, ".gz"), (bz2.open, ".bz2"), (lzma.open, ".xz"), (open, ".log")])
def test_compression_is_detected_by_magic_bytes_not_by_name(tmp_path, opener, suffix):
    p = tmp_path / "mail.data"  # misleading name on purpose
    with opener(p, "wb") as f:
        f.write((LINE * 3).encode())
    res = parse([str(p)], options=OPTS)
    assert res.events["kind"].to_list() == ["queued"] * 3


def _zstandard():
    """The ``zstandard`` module (a ``[test]`` extra): missing here is a skip, in CI a failure."""
    try:
        import zstandard
    except ImportError:
        unavailable("zstandard is not installed (pip install -e '.[test]')", required=IN_CI)
    return zstandard


def test_zstd_is_read(tmp_path):
    zstd = _zstandard()
    p = tmp_path / "mail.log.zst"
    p.write_bytes(zstd.ZstdCompressor().compress((LINE * 2).encode()))
    assert parse([str(p)], options=OPTS).events.height == 2


def test_truncated_gzip_keeps_lines_read_and_warns_with_file_and_line(tmp_path):
    p = tmp_path / "mail.log.1.gz"
    data = gzip.compress((LINE * 5000).encode())
    p.write_bytes(data[: len(data) // 2])
    res = parse([str(p)], options=OPTS)
    assert 0 < res.events.height < 5000
    assert len(res.diagnostics) == 1
    d = res.diagnostics[0]
    assert d.level == "warning" and d.path == str(p) and d.line_no is not None
    assert "truncated or corrupt" in str(d)


def test_invalid_utf8_nul_crlf_and_0x1f_never_abort(tmp_path):
    p = tmp_path / "m.log"
    p.write_bytes(LINE.encode().replace(b"\n", b"\r\n") + b"Nov 22 06:25:15 mx1 postfix/cleanup[2]: 4F8B23C0F2: message-id=<\xff\xfe@x\x1fy>\n"
                  + b"\x00\x00 junk\n" + b"\n")
    res = parse([str(p)], options=OPTS)
    kinds = res.events["kind"].to_list()
    assert kinds == ["queued", "header", "unparsed", "other"]
    mid = res.events["message_id"][1]
    assert "\ufffd" in mid and "\\x1f" in mid  # lossy UTF-8; 0x1F escaped, not a line cut
    # the line engine reads the same
    line = parse([str(p)], options=OPTS, engine="line").events
    assert line["kind"].to_list() == kinds


def test_line_cut_mid_field_at_eof_is_kept(tmp_path):
    p = tmp_path / "m.log"
    p.write_text(LINE + "Nov 22 06:25:16 mx1 postfix/smtp[3]: 4F8B23C0F2: to=<b@exa")
    res = parse([str(p)], options=OPTS)
    assert res.events.height == 2
    assert res.events["kind"].to_list() == ["queued", "unparsed"]


def test_ten_megabyte_line(tmp_path):
    p = tmp_path / "m.log"
    p.write_text(LINE + "Nov 22 06:25:16 mx1 postfix/cleanup[3]: 4F8B23C0F2: warning: header Subject: " + "A" * 10_000_000 + "\n" + LINE)
    res = parse([str(p)], options=OPTS)
    assert res.events["kind"].to_list() == ["queued", "other", "queued"]


def test_rotated_set_is_read_oldest_first():
    names = ["mail.log", "mail.log.1", "mail.log.2.gz", "mail.log.10.gz", "mail.log.3.gz"]
    assert reader.sort_rotated(names) == ["mail.log.10.gz", "mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log"]
    assert reader.sort_rotated(["maillog-20261122", "maillog", "maillog-20261120.gz"]) == ["maillog-20261120.gz", "maillog-20261122", "maillog"]


def test_glob_and_directory_expand_in_rotation_order(tmp_path):
    for n in ("mail.log", "mail.log.1", "mail.log.2.gz"):
        (tmp_path / n).write_text("x\n")
    got = [os.path.basename(f.path) for f in reader.expand([str(tmp_path / "mail.log*")])]
    assert got == ["mail.log.2.gz", "mail.log.1", "mail.log"]
    got = [os.path.basename(f.path) for f in reader.expand([str(tmp_path)])]
    assert got == ["mail.log.2.gz", "mail.log.1", "mail.log"]


@pytest.mark.parametrize("setup,message", [
    (lambda d: str(d / "nope.log"), "no such file"),
    (lambda d: str(d / "*.nomatch"), "no file matches"),
])
def test_missing_inputs_raise_one_line_input_errors(tmp_path, setup, message):
    with pytest.raises(InputError, match=message):
        reader.expand([setup(tmp_path)])


def test_unreadable_file_is_an_input_error(tmp_path, monkeypatch):
    p = tmp_path / "locked.log"
    p.write_text(LINE)
    os.chmod(p, 0)
    if os.geteuid() == 0:  # root reads everything: the file is unreadable to the check as it would be to a user
        monkeypatch.setattr(reader.os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="permission denied"):
        reader.expand([str(p)])


def test_binary_file_is_refused_with_a_hint(tmp_path):
    p = tmp_path / "ls"
    p.write_bytes(bytes(range(256)) * 100)
    with pytest.raises(InputError) as e:
        parse([str(p)], keep_going=False)
    assert "binary" in e.value.message and e.value.hint


def test_empty_file_gives_a_warning_not_an_error(tmp_path):
    p = tmp_path / "empty.log"
    p.write_text("")
    res = parse([str(p)])
    assert res.events.height == 0
    assert [d.level for d in res.diagnostics] == ["warning"]


def test_unknown_format_says_pass_mta(tmp_path):
    p = tmp_path / "x.log"
    p.write_text("hello world\nthis is not a mail log\n")
    res = parse([str(p)])
    assert res.failed_inputs == 1
    assert "not a mail log format" in res.diagnostics[0].message and "--mta" in (res.diagnostics[0].hint or "")


def test_journalctl_json_export_is_read(tmp_path):
    import json

    p = tmp_path / "journal.json"
    rec = {"__REALTIME_TIMESTAMP": "1795328714000000", "_HOSTNAME": "mx1", "SYSLOG_IDENTIFIER": "postfix/qmgr", "_PID": "77",
           "MESSAGE": "4F8B23C0F2: removed"}
    p.write_text(json.dumps(rec) + "\n")
    ev = parse([str(p)], options=OPTS).events.row(0, named=True)
    assert (ev["kind"], ev["host"], ev["pid"], ev["queue_id"]) == ("remove", "mx1", 77, "4F8B23C0F2")


def test_year_rolls_over_from_december_to_january_inside_one_file(tmp_path):
    p = tmp_path / "m.log"
    p.write_text(LINE.replace("Nov 22", "Dec 31") + LINE.replace("Nov 22", "Jan  1"))
    for engine in ("frame", "line"):
        ts = parse([str(p)], options=ParseOptions(year=2025, tz="UTC"), engine=engine).events["ts"].to_list()
        assert [t.year for t in ts] == [2025, 2026], engine


def test_year_defaults_from_mtime_and_december_before_a_january_mtime_is_last_year(tmp_path):
    import time

    p = tmp_path / "m.log"
    p.write_text(LINE.replace("Nov 22", "Dec 30"))
    jan = time.mktime((2027, 1, 2, 0, 0, 0, 0, 0, -1))
    os.utime(p, (jan, jan))
    ts = parse([str(p)], options=ParseOptions(tz="UTC")).events["ts"][0]
    assert ts.year == 2026


def test_rfc3339_and_tz_option(tmp_path):
    p = tmp_path / "m.log"
    p.write_text("2026-11-22T06:25:14.123456+01:00 mx1 postfix/qmgr[1]: 4F8B23C0F2: removed\n"
                 "Nov 22 06:25:14 mx1 postfix/qmgr[1]: 4F8B23C0F2: removed\n")
    ts = parse([str(p)], options=ParseOptions(year=2026, tz="Europe/Berlin")).events["ts"].to_list()
    assert ts[0].isoformat() == "2026-11-22T05:25:14.123456+00:00"
    assert ts[1].isoformat() == "2026-11-22T05:25:14+00:00"


def test_diagnostic_text_names_file_and_line():
    assert str(Diagnostic("warning", "x", path="a.gz", line_no=7)) == "warning: a.gz:7: x"
