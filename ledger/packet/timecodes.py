"""Record timecodes from verified delivery packets, for the performer pages of the portal.

:func:`packet_timecodes` turns verified packets' disclosures into the
:data:`ledger.audit.performers.Timecodes` function: (production, deliverable, asset version) to
the record timecode ranges of the clips that show that deliverable with that asset version in its
lineage.  Keyed by the packet's production too: two shows may share a deliverable or asset id.
Only a packet that verifies (:func:`ledger.packet.verify.verify_packet`) feeds it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ledger.audit.performers import Timecodes
from ledger.errors import VerificationFailure
from ledger.packet.build import DISCLOSURE_JSON
from ledger.packet.files import read_packet
from ledger.packet.verify import verify_packet


def disclosure_timecodes(bodies: Iterable[Mapping[str, Any]]) -> Timecodes:
    """The timecodes function of disclosures (each already verified)."""
    ranges: dict[tuple[str, str, str], list[str]] = {}
    for body in bodies:
        production = str(body.get("production"))
        for clip in body.get("clips", []):
            if clip.get("asset") is None:
                continue
            span = f"{clip['record_in']}-{clip['record_out']}"
            for node in clip.get("lineage", []):
                found = ranges.setdefault((production, clip["asset"], node), [])
                if span not in found:
                    found.append(span)

    def timecodes(production: str, deliverable: str, asset: str) -> Sequence[str]:
        return tuple(ranges.get((production, deliverable, asset), ()))

    return timecodes


def packet_timecodes(paths: Iterable[Path], log_vkey: str) -> Timecodes:
    """The timecodes of packets, each verified offline first (VerificationFailure if one fails)."""
    bodies = []
    for path in paths:
        verdict = verify_packet(path, log_vkey, check_pdf=False)
        if not verdict.ok:
            first = verdict.problems[0]
            raise VerificationFailure(f"packet {path} fails: {first.code}: {first.detail}")
        bodies.append(json.loads(read_packet(path)[DISCLOSURE_JSON]))
    return disclosure_timecodes(bodies)
