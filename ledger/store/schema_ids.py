"""The Confluent schema ids a ledger has met, kept in its meta so that readers need no registry."""

from __future__ import annotations

import json

from ledger.events.encoding import LEARNED_SCHEMA_IDS, SchemaVersion
from ledger.store.base import LedgerStore

META_SCHEMA_IDS = "confluent_schema_ids"


def load_schema_ids(store: LedgerStore) -> dict[int, bytes]:
    """Confluent schema ids recorded in a ledger: id → schema fingerprint."""
    text = store.get_meta(META_SCHEMA_IDS)
    return {int(k): bytes.fromhex(v) for k, v in json.loads(text).items()} if text else {}


def record_schema_id(store: LedgerStore, schema_id: int, schema: SchemaVersion) -> None:
    """Remember in the ledger which schema a registry id named, so readers need no registry."""
    ids = load_schema_ids(store)
    if ids.get(schema_id) == schema.fingerprint:
        return
    ids[schema_id] = schema.fingerprint
    store.set_meta(META_SCHEMA_IDS, json.dumps({str(k): v.hex() for k, v in sorted(ids.items())}))
    LEARNED_SCHEMA_IDS.learn({schema_id: schema.fingerprint})
