"""Witnessing: cosignature lines, the witness and its HTTP server, the log's side of it."""
