"""Regenerate examples/ from demo/story.py: ``python examples/make_examples.py``.

* ``events/NN-<shot>-<asset>-<version>.json`` and ``events/all.jsonl``: the provenance events,
  accepted as they are by ``assetledger emit --event FILE``;
* ``remediation/``: the sh010 redo (licensed dust, new comp, republished final);
* ``consents/``, ``licences/``: consent and licence records (``"event_kind"`` says so), which the
  provenance events cite and which must be emitted first;
* ``registry/``: counsel's enrolment with a legal scope (signed by a root key);
* ``dispositions/``: one disposition of each decision (``finding_id`` is a stand-in: use the id
  ``assetledger audit ip`` prints);
* ``approvals/``: a distributor's approval and a refusal (docs/packet.md).

Every file is accepted as it is by ``assetledger emit --event FILE``: the kind is in the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo import story

HERE = Path(__file__).resolve().parent


def _name(event: dict[str, Any]) -> str:
    asset = event["asset"]
    parts = asset["asset_id"].split("/")
    return f"{parts[-2]}-{parts[-1]}-{asset['version']}"


def write(folder: Path, items: list[tuple[str, dict[str, Any]]], name: Any) -> None:
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    lines = []
    for i, (_, event) in enumerate(items, start=1):
        text = json.dumps(event, indent=2, ensure_ascii=False) + "\n"
        (folder / f"{i:02d}-{name(event)}.json").write_text(text, encoding="utf-8")
        lines.append(json.dumps(event, ensure_ascii=False))
    (folder / "all.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    write(HERE / "events", story.production(), _name)
    write(HERE / "remediation", story.remediation(), _name)
    write(HERE / "consents", story.consents(), lambda e: e["grantor"]["party_id"].split(":")[-1])
    write(HERE / "licences", story.licences(), lambda e: e["licensor"]["party_id"].split(":")[-1])
    write(HERE / "registry", story.registry_examples(), lambda e: e["operation"] + "-counsel")
    write(HERE / "dispositions", story.disposition_examples(), lambda e: e["decision"])
    write(HERE / "approvals", story.approval_examples(), lambda e: e["decision"])


if __name__ == "__main__":
    main()
