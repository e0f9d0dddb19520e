"""Deadlines as rows: the job that turns a case red, re-notifies and escalates (督办)."""
