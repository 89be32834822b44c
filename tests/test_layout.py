"""``logtrace.cli.layout``: lines broken between pieces at a width, counted in terminal columns."""

from __future__ import annotations

from logtrace.cli.layout import cells, fill, words


def lines(pieces, width, cont="    "):
    return ["".join(sep + text for sep, text, _ in ln) for ln in fill(pieces, width, cont)]


def test_a_line_that_fits_stays_one_line():
    p = [("", "Nov 22 19:42:01", ""), ("  ", "mx1", ""), ("  ", "482B920C2B6", "")]
    assert fill(p, 80) == [p]
    assert lines(p, 34) == ["Nov 22 19:42:01  mx1  482B920C2B6"]


def test_breaks_only_between_pieces_dropping_the_separator_for_the_indent():
    p = [("", "Nov 22 19:42:01", ""), ("  ", "mx1", ""), ("  ", "<grace@example.org>", ""),
         (" ", "-> <unknown-multi@ext.example.test>", "")]
    assert lines(p, 50, cont="      ") == ["Nov 22 19:42:01  mx1  <grace@example.org>", "      -> <unknown-multi@ext.example.test>"]
    reply = "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 Recipient address rejected: User unknown"
    got = lines(words(reply, first="    "), 30)
    assert got == ["    host 127.0.0.1[127.0.0.1]", "    said: 550 5.1.1 Recipient", "    address rejected: User", "    unknown"]
    assert all(len(ln) <= 30 for ln in got)


def test_a_word_wider_than_a_line_gets_a_line_of_its_own_whole():
    long = "<" + "x" * 60 + "@example.com>"
    assert lines(words(f"to {long} said no", first="  "), 40) == ["  to", "    " + long, "    said no"]


def test_a_piece_with_spaces_wider_than_any_line_is_broken_between_its_words():
    p = [("", "from", ""), (" ", "<a b c d e f g h i j k l m n o p q r s t u v w x y z@example.net>", "bold")]
    got = fill(p, 20, "  ")
    assert all(cells("".join(s + t for s, t, _ in ln)) <= 20 for ln in got)
    assert " ".join(t for ln in got for _, t, _ in ln) == "from <a b c d e f g h i j k l m n o p q r s t u v w x y z@example.net>"
    assert {st for ln in got for _, t, st in ln if t != "from"} == {"bold"}  # the style stays with the words


def test_wide_characters_count_two_columns():
    assert cells("全角") == 4 and cells("abc") == 3
    got = lines(words("全角の 返信テキスト です", first=""), 12, cont="")
    assert got == ["全角の", "返信テキスト", "です"]  # 6 + 1 + 12 would not fit in 12 columns
    assert lines(words("全角の です", first=""), 11, cont="") == ["全角の です"]
