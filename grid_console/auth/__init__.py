"""Accounts, sessions, bearer tokens, login throttling and the role rules of every route."""
