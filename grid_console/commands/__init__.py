"""Signed commands to nodes, written to an outbox in the case's transaction, sent later."""
