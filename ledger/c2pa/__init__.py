"""The C2PA bridge: lineage to manifests, manifest stores to events, credentials in files."""
