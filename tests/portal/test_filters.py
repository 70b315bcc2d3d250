"""Times as people read them (exact UTC kept), long ids cut on one line (full id kept)."""

from __future__ import annotations

from portal.filters import age, named, short_id, when


def test_a_time_reads_as_a_day_and_minute_with_the_exact_utc_time_kept() -> None:
    html = str(when("2026-12-07T14:29:38.470096Z"))
    assert html == (
        '<time datetime="2026-12-07T14:29:38.470096Z" title="2026-12-07 14:29:38 UTC">'
        "7 Dec 2026, 14:29 UTC</time>"
    )
    assert ">1 Jan 2025</time>" in str(when("2025-01-01T00:00:00.000000Z"))  # a date
    assert 'title="2026-12-07 13:29:38 UTC"' in str(when("2026-12-07T14:29:38+01:00"))
    assert 'datetime="1970-01-02T00:00:00Z"' in str(when(86400))  # the access log's seconds


def test_what_is_not_a_time_is_shown_as_it_is_escaped() -> None:
    assert str(when("<b>soon</b>")) == "&lt;b&gt;soon&lt;/b&gt;"
    assert str(when(None)) == ""


def test_a_long_id_is_cut_with_the_full_id_on_hover_and_escaped() -> None:
    fid = "a" * 64
    assert str(short_id(fid)) == f'<code class="id" title="{fid}">{"a" * 12}…</code>'
    assert str(short_id("short")) == '<code class="id" title="short">short</code>'
    assert "&lt;x&gt;" in str(short_id("<x>" * 10)) and "<x>" not in str(short_id("<x>" * 10))


def test_audit_text_names_people_whole_ids_only_and_stays_escaped() -> None:
    names = {"performer:omar-haddad": "Omar <Haddad>", "person:a": "A"}
    html = str(named("use of performer:omar-haddad; performer:omar-haddad-2 <b>", names))
    assert html == (
        'use of <span class="person" title="performer:omar-haddad">Omar &lt;Haddad&gt;</span>;'
        " performer:omar-haddad-2 &lt;b&gt;"
    )
    assert str(named("x/person:a and person:ab", names)) == "x/person:a and person:ab"
    assert str(named("<i>", None)) == "&lt;i&gt;"


def test_an_age_reads_in_the_largest_whole_unit() -> None:
    assert [age(s) for s in (1, 45, 60, 1323, 7200, 90000, 3 * 86400)] == [
        "1 second", "45 seconds", "1 minute", "22 minutes", "2 hours", "1 day", "3 days",
    ]  # fmt: skip
    assert age("x") == "x" and age(-5) == "0 seconds"


def test_text_naming_a_person_with_the_id_shows_the_name_once() -> None:
    """The audit writes a performer as "Omar Haddad (performer:omar-haddad)": the page shows
    the name once with the id on hover, never "Omar Haddad (Omar Haddad)"."""
    names = {"performer:omar-haddad": "Omar Haddad"}
    html = str(named("digital_replica of Omar Haddad (performer:omar-haddad) without", names))
    assert html == (
        'digital_replica of <span class="person" title="performer:omar-haddad">Omar Haddad'
        "</span> without"
    )
    assert "Omar Haddad (Omar Haddad)" not in html
