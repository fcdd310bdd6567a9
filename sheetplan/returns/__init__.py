"""Returned files: the safe reader stack, validation of every cell, the ledger, ingest and feedback copies."""
