"""The operator docs say what the code and docker-compose.yml do (issue 12 §5)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from cli.ingest import consume

ROOT = Path(__file__).parents[1]


def _option(command: click.Command, name: str) -> click.Option:
    (option,) = [p for p in command.params if isinstance(p, click.Option) and p.name == name]
    return option


def test_deploy_doc_states_the_real_batch_size_default() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    stated = re.findall(r"--batch-size`\s*\(default (\d+)\)", text)
    assert stated, "docs/deploy.md no longer states the --batch-size default"
    assert {int(n) for n in stated} == {_option(consume, "batch_size").default}


def test_the_scraped_metrics_port_is_the_one_compose_enables() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "ASSETLEDGER_METRICS_PORT" in (_option(consume, "metrics_port").envvar or "")
    enabled = re.findall(r'ASSETLEDGER_METRICS_PORT: "(\d+)"', compose)
    scraped = re.findall(r"port: (\d+)", operations.split("scrape_configs:")[1])
    assert enabled and scraped and set(enabled) == set(scraped)


def test_protocol_doc_names_one_reason_for_a_00_record_without_a_registry() -> None:
    """§10 and §11 agree with the code: such a record is ``unknown_schema``."""
    from cli.ingest import _reading_framing
    from consumers.inspect import RawRecord, inspect
    from ledger.errors import UnknownSchemaError
    from ledger.store.sqlite import SqliteStore
    from ledger.trust.policy import FolderTrust

    store = SqliteStore(":memory:")
    framing = _reading_framing(store, None)  # what assetledger consume uses without a registry
    value = b"\x00\x00\x00\x00\x07" + b"\x00" * 40
    result = inspect(RawRecord("t", 0, 0, b"k", value, ()), FolderTrust({}), framing)
    assert result.reason == UnknownSchemaError.reason  # type: ignore[union-attr]
    text = " ".join((ROOT / "docs" / "protocol.md").read_text().split())
    # What follows each "without a registry", up to the end of its clause, names the reason.
    claims = [
        re.split(r"[.;:]", text[m.end() :], maxsplit=1)[0]
        for m in re.finditer("without a registry", text)
    ]
    claims = [c for c in claims if "`undecodable`" in c or "`unknown_schema`" in c]
    assert claims, "docs/protocol.md no longer says what happens to a 00 record without registry"
    for claim in claims:
        assert "`unknown_schema`" in claim and "`undecodable`" not in claim, claim


def test_protocol_doc_warns_that_apache_avro_python_fingerprints_differ() -> None:
    """The warning quotes the ledger's own fingerprint and a different one for ``avro``."""
    from ledger.events.encoding import schema_fingerprint

    text = " ".join((ROOT / "docs" / "protocol.md").read_text().split())
    start = text.find("**Beware of Apache Avro's Python `fingerprint()`.**")
    assert start >= 0, "docs/protocol.md lacks the Apache Avro Python fingerprint warning"
    body = text[start : text.index("compare with the table.", start)]
    ours = schema_fingerprint((ROOT / "schemas" / "provenance_event.v2.avsc").read_text()).hex()
    quoted = re.findall(r"`([0-9a-f]{16})`", body)
    assert ours in quoted and len(set(quoted)) == 2, quoted
    assert "logical type" in body and "Parsing Canonical Form" in body


def test_emit_help_and_readme_name_every_event_kind() -> None:
    """``emit --help`` and the README list the kinds an event file may state (approval too)."""
    from cli.ingest import emit
    from ledger.events.kinds import kind_names

    help_text = " ".join((emit.help or "").split())
    listed = re.search(r'"event_kind" field \(([^)]*)\)', help_text)
    assert listed, "emit's help no longer lists the event kinds"
    assert set(listed.group(1).split(", ")) == set(kind_names())
    readme = " ".join((ROOT / "README.md").read_text().split())
    stated = re.search(r"every kind of event \(([^)]*)\) is JSON", readme)
    assert stated, "README no longer lists the kinds of event files"
    assert {k.replace(" ", "_") for k in stated.group(1).split(", ")} == set(kind_names())
