"""The locked cut: its clips read with OpenTimelineIO, each mapped to an asset version.

OpenTimelineIO reads native ``.otio`` and, through its adapter plugins (the ``packet`` extra),
CMX 3600 EDL, Final Cut Pro XML and AAF.  Every clip on a video or audio track is mapped to one
asset version (``id@version``), in this order:

1. clip metadata ``{"assetledger": {"asset": "ID@VERSION"}}``;
2. a media reference URL ``assetledger:ID@VERSION`` (the AAF adapter writes it back as
   ``file://assetledger:ID@VERSION``, which is read the same);
3. the map file (``--map``): a row naming the clip, else one naming its reel.

When two of these disagree, or the map gives a name two versions, the clip is *unmapped* with
the reason: a clip is never guessed.  The map is CSV (``clip name or reel, asset@version``)
from outside the studio and is read as hostile: a size and row cap, a UTF-8 BOM removed, cells
that a spreadsheet would run as a formula, control characters and malformed versions refused
row by row, each with its reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import ConfigurationError

METADATA_KEY = "assetledger"
URL_SCHEME = "assetledger:"
AAF_URL_PREFIX = "file://" + URL_SCHEME  # what the AAF adapter makes of an assetledger: URL
MAX_MAP_BYTES = 8 * 1024 * 1024
MAX_MAP_ROWS = 100_000
MAX_CELL = 1024
MAX_CUT_BYTES = 256 * 1024 * 1024
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SUFFIX_ADAPTERS = {
    ".otio": "otio_json",
    ".edl": "cmx_3600",
    ".xml": "fcp_xml",
    ".aaf": "AAF",
}


@dataclass(frozen=True)
class Clip:
    """One clip of the cut, where it sits, and the asset version it maps to (if any)."""

    index: int  # 1-based, in track order then clip order
    track: str
    track_kind: str  # Video | Audio
    name: str
    reel: str | None
    record_in: str  # timecode of the first frame on the record side
    record_out: str  # timecode just after the last frame (EDL convention)
    source_url: str | None
    asset: str | None  # "id@version", None when unmapped
    mapped_by: str | None  # metadata | url | map:clip | map:reel
    problem: str | None = None  # why the clip is unmapped

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "track": self.track,
            "track_kind": self.track_kind,
            "name": self.name,
            "reel": self.reel,
            "record_in": self.record_in,
            "record_out": self.record_out,
            "source_url": self.source_url,
            "asset": self.asset,
            "mapped_by": self.mapped_by,
            "problem": self.problem,
        }


@dataclass
class ClipMap:
    """The ``--map`` file as read: name → asset version, and the rows refused (with why)."""

    versions: dict[str, str] = field(default_factory=dict)
    conflicts: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)

    def lookup(self, key: str | None) -> tuple[str | None, str | None]:
        """(asset version, problem) for a clip name or reel."""
        if not key:
            return None, None
        if key in self.conflicts:
            return None, f"the map gives {key!r} more than one asset version"
        return self.versions.get(key), None


def version_problem(text: str) -> str | None:
    """Why ``text`` is not an asset version ``id@version`` (None when it is one)."""
    if len(text) > MAX_CELL:
        return f"it is longer than {MAX_CELL} characters"
    if _CONTROL.search(text):
        return "it holds a control character"
    asset_id, at, version = text.rpartition("@")
    if not at or not asset_id.strip() or not version.strip() or text != text.strip():
        return f"{text!r} is not an asset version (id@version)"
    if text.startswith(FORMULA_START):
        return f"{text!r} starts like a spreadsheet formula"
    return None


def read_map(path: Path) -> ClipMap:
    """The map file, read as hostile input (see the module docstring)."""
    try:
        size = path.stat().st_size
        if size > MAX_MAP_BYTES:
            raise ConfigurationError(
                f"map {path} is {size} bytes, more than the {MAX_MAP_BYTES} a map may have",
                hint="a map has one short row per clip name or reel",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read map {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"map {path} is not UTF-8 text (byte {exc.start})") from None
    return parse_map(text, str(path))


def parse_map(text: str, where: str = "map") -> ClipMap:
    out = ClipMap()
    csv.field_size_limit(MAX_CELL * 4)
    try:
        for n, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if n > MAX_MAP_ROWS:
                raise ConfigurationError(f"{where} has more than {MAX_MAP_ROWS} rows")
            _map_row(out, n, row, where)
    except csv.Error as exc:
        raise ConfigurationError(f"{where} is not CSV: {exc}") from None
    return out


def _map_row(out: ClipMap, n: int, row: list[str], where: str) -> None:
    cells = [c.strip() for c in row]
    if not cells or not any(cells):
        return
    if n == 1 and len(cells) >= 2 and "@" not in cells[1]:
        return  # a header row
    if len(cells) != 2:
        out.refused.append(f"{where} row {n}: {len(cells)} cells, not 2 (name, asset@version)")
        return
    name, asset = cells
    problem = _name_problem(name) or version_problem(asset)
    if problem is not None:
        out.refused.append(f"{where} row {n}: {problem}")
        return
    known = out.versions.get(name)
    if known is not None and known != asset:
        out.conflicts.add(name)
    out.versions.setdefault(name, asset)


def _name_problem(name: str) -> str | None:
    if not name:
        return "the clip name or reel is empty"
    if len(name) > MAX_CELL:
        return f"the clip name or reel is longer than {MAX_CELL} characters"
    if _CONTROL.search(name):
        return "the clip name or reel holds a control character"
    if name.startswith(FORMULA_START):
        return f"the clip name or reel {name!r} starts like a spreadsheet formula"
    return None


# --- reading the cut --------------------------------------------------------------------------


def otio_module() -> Any:
    try:
        import opentimelineio  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError(
            "reading a cut needs OpenTimelineIO",
            hint="pip install 'asset-ledger[packet]' (OpenTimelineIO and its EDL, FCP XML and"
            " AAF adapters)",
        ) from None
    return opentimelineio


def read_timeline(path: Path) -> Any:
    """The cut as an OpenTimelineIO timeline, by file suffix (.otio .edl .xml .aaf)."""
    otio = otio_module()
    adapter = SUFFIX_ADAPTERS.get(path.suffix.lower())
    if adapter is None:
        raise ConfigurationError(
            f"cut {path}: {path.suffix or 'no suffix'} is not a cut format read here",
            hint="give a .otio, .edl (CMX 3600), .xml (Final Cut Pro XML) or .aaf file",
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigurationError(f"cannot read cut {path}: {exc.strerror}") from None
    if size > MAX_CUT_BYTES:
        raise ConfigurationError(f"cut {path} is {size} bytes, more than {MAX_CUT_BYTES}")
    try:
        result = otio.adapters.read_from_file(str(path), adapter_name=adapter)
    except Exception as exc:  # adapters raise assorted errors on bad input
        raise ConfigurationError(
            f"cut {path} cannot be read as {adapter}: {type(exc).__name__}: {exc}"[:600]
        ) from None
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if len(timelines) != 1:
            raise ConfigurationError(f"cut {path} holds {len(timelines)} timelines, not one")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise ConfigurationError(f"cut {path} holds a {type(result).__name__}, not a timeline")
    return result


def clips(timeline: Any, clip_map: ClipMap | None = None) -> list[Clip]:
    """Every clip on the timeline's video and audio tracks, in order, mapped."""
    otio = otio_module()
    start = timeline.global_start_time
    out: list[Clip] = []
    for track, item in _track_clips(otio, timeline):
        rate = item.trimmed_range().duration.rate
        placed = item.transformed_time_range(item.trimmed_range(), track)
        offset = (
            start.rescaled_to(rate) if start is not None else otio.opentime.RationalTime(0, rate)
        )
        first = placed.start_time.rescaled_to(rate) + offset
        after = first + placed.duration.rescaled_to(rate)
        asset, how, problem = map_clip(item, clip_map)
        out.append(
            Clip(
                index=len(out) + 1,
                track=str(track.name or ""),
                track_kind=str(track.kind),
                name=str(item.name or ""),
                reel=_reel(item),
                record_in=otio.opentime.to_timecode(first, rate),
                record_out=otio.opentime.to_timecode(after, rate),
                source_url=_url(item),
                asset=asset,
                mapped_by=how,
                problem=problem,
            )
        )
    return out


def _track_clips(otio: Any, timeline: Any) -> Iterator[tuple[Any, Any]]:
    for track in timeline.tracks:
        if not isinstance(track, otio.schema.Track):
            continue
        if track.kind not in (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio):
            continue
        for item in track.find_clips():
            yield track, item


def _url(item: Any) -> str | None:
    ref = item.media_reference
    url = getattr(ref, "target_url", None)
    return str(url) if url else None


def _reel(item: Any) -> str | None:
    for key in ("cmx_3600", "fcp_xml"):
        data = item.metadata.get(key)
        if isinstance(data, dict) or hasattr(data, "get"):
            reel = data.get("reel")
            if reel:
                return str(reel)
    return None


def map_clip(item: Any, clip_map: ClipMap | None) -> tuple[str | None, str | None, str | None]:
    """(asset version, how it was mapped, why not): see the module docstring."""
    stated: list[tuple[str, str]] = []
    data = item.metadata.get(METADATA_KEY)
    if data is not None:
        value = data.get("asset") if hasattr(data, "get") else None
        if not isinstance(value, str):
            return None, None, f"its {METADATA_KEY} metadata has no asset text"
        stated.append(("metadata", value))
    url = _url(item)
    if url and url.startswith((URL_SCHEME, AAF_URL_PREFIX)):
        stated.append(("url", url.split(URL_SCHEME, 1)[1]))
    for how, value in stated:
        problem = version_problem(value)
        if problem is not None:
            return None, None, f"its {how} names no asset version: {problem}"
    if len({v for _, v in stated}) > 1:
        named = " and ".join(f"{h} {v}" for h, v in stated)
        return None, None, f"its {named} disagree"
    if stated:
        return stated[0][1], stated[0][0], None
    return _from_map(item, clip_map)


def _from_map(item: Any, clip_map: ClipMap | None) -> tuple[str | None, str | None, str | None]:
    if clip_map is None:
        return None, None, "no asset in its metadata or media URL, and no --map was given"
    for how, key in (("map:clip", str(item.name or "")), ("map:reel", _reel(item))):
        asset, problem = clip_map.lookup(key)
        if problem is not None:
            return None, None, problem
        if asset is not None:
            return asset, how, None
    return None, None, "no asset in its metadata or media URL, and the map names neither"


# --- writing a cut (the demo, tests, benchmarks) --------------------------------------------


def write_cut(
    path: Path,
    shots: Sequence[tuple[str, str | None, int]],
    *,
    name: str = "locked cut",
    rate: int = 24,
    start: str = "01:00:00:00",
) -> Path:
    """Write a one-track cut of ``(clip name, asset version or None, frames)`` in the format
    of ``path``'s suffix; each version is named by an ``assetledger:`` media URL."""
    otio = otio_module()
    timeline = otio.schema.Timeline(name=name)
    timeline.global_start_time = otio.opentime.from_timecode(start, rate)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for clip_name, asset, frames in shots:
        url = f"{URL_SCHEME}{asset}" if asset else f"file:///media/{clip_name}.exr"
        length = otio.opentime.RationalTime(frames, rate)
        track.append(
            otio.schema.Clip(
                name=clip_name,
                media_reference=otio.schema.ExternalReference(
                    target_url=url,
                    available_range=otio.opentime.TimeRange(
                        otio.opentime.RationalTime(0, rate), length
                    ),
                ),
                source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), length),
            )
        )
    adapter = SUFFIX_ADAPTERS.get(path.suffix.lower())
    if adapter is None:
        raise ConfigurationError(f"cannot write a cut as {path.suffix or 'no suffix'}")
    options = {"use_empty_mob_ids": True} if adapter == "AAF" else {}
    otio.adapters.write_to_file(timeline, str(path), adapter_name=adapter, **options)
    return path
