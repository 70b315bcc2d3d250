"""Reading locked cuts through every OpenTimelineIO adapter named, and mapping their clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.errors import ConfigurationError
from ledger.packet.cut import MAX_MAP_BYTES, clips, parse_map, read_map, read_timeline
from tests.ledger.packet.packet_factory import SH010_V2, SH020, SH030, timeline, write_cut

ASSETS: list[str | None] = [SH010_V2, SH020, SH030]


@pytest.mark.parametrize("suffix", [".otio", ".edl", ".xml", ".aaf"])
def test_every_adapter_reads_the_clips_and_their_record_timecodes(
    tmp_path: Path, suffix: str
) -> None:
    path = write_cut(timeline(ASSETS), tmp_path / f"cut{suffix}")
    found = clips(read_timeline(path))
    video = [c for c in found if c.track_kind == "Video"]
    assert [c.asset for c in video] == ASSETS
    assert all(c.mapped_by == "url" for c in video)
    # 48, 49 and 50 frames at 24 fps, one after the other
    record = [(c.record_in[-8:], c.record_out[-8:]) for c in video]
    assert record == [("00:00:00", "00:02:00"), ("00:02:00", "00:04:01"), ("00:04:01", "00:06:03")]
    audio = [c for c in found if c.track_kind == "Audio"]
    if suffix != ".edl":  # a CMX 3600 EDL written by OTIO holds the video track only
        assert [c.name for c in audio] == ["score-101"]
        assert audio[0].asset is None and "no asset" in (audio[0].problem or "")


def test_metadata_names_the_version(tmp_path: Path) -> None:
    path = write_cut(timeline(ASSETS, how="metadata", audio=False), tmp_path / "cut.otio")
    assert [(c.asset, c.mapped_by) for c in clips(read_timeline(path))] == [
        (a, "metadata") for a in ASSETS
    ]


def test_metadata_and_url_that_disagree_leave_the_clip_unmapped(tmp_path: Path) -> None:
    tl = timeline([SH010_V2], audio=False)
    tl.tracks[0][0].metadata["assetledger"] = {"asset": SH020}
    path = write_cut(tl, tmp_path / "cut.otio")
    (clip,) = clips(read_timeline(path))
    assert clip.asset is None and "disagree" in (clip.problem or "")


def test_an_edl_is_mapped_by_clip_name_then_reel(tmp_path: Path) -> None:
    tl = timeline(ASSETS, how="file", audio=False)
    tl.tracks[0][1].name = "crowd flees"  # its reel stays the media file's name
    path = write_cut(tl, tmp_path / "cut.edl")
    reels = {c.name: c.reel for c in clips(read_timeline(path))}
    assert reels["crowd flees"] and reels["crowd flees"] != "crowd flees"
    text = f"clip,asset\nsh010,{SH010_V2}\n{reels['crowd flees']},{SH020}\n"
    found = clips(read_timeline(path), parse_map(text))
    assert [(c.asset, c.mapped_by) for c in found] == [
        (SH010_V2, "map:clip"),
        (SH020, "map:reel"),
        (None, None),
    ]
    assert "the map names neither" in (found[2].problem or "")


def test_a_hostile_map_is_refused_row_by_row() -> None:
    text = (
        "\ufeffclip,asset\n"
        '=HYPERLINK("http://x"),a@v1\n'
        "sh010,=cmd|' /C calc'!A0\n"
        "sh020,not-a-version\n"
        "sh\x07030,a@v1\n"
        "sh040,a@v1,extra\n"
        "sh050,fallen/sh050/final@v001\n"
        "dup,a@v1\n"
        "dup,a@v2\n"
    )
    m = parse_map(text)
    assert m.versions["sh050"] == "fallen/sh050/final@v001"
    assert len(m.refused) == 5
    assert "formula" in m.refused[0] and "row 2" in m.refused[0]
    assert m.lookup("dup") == (None, "the map gives 'dup' more than one asset version")
    assert "=HYPERLINK" not in "".join(m.versions)


def test_a_huge_or_binary_map_is_an_error(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b@c\n" * (MAX_MAP_BYTES // 6 + 1))
    with pytest.raises(ConfigurationError, match="more than"):
        read_map(big)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        read_map(binary)


def test_a_cut_that_is_not_a_cut_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "cut.edl"
    bad.write_text("TITLE: x\n001  garbage\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="cannot be read as cmx_3600"):
        read_timeline(bad)
    other = tmp_path / "cut.mov"
    other.write_bytes(b"\x00")
    with pytest.raises(ConfigurationError, match="not a cut format"):
        read_timeline(other)
