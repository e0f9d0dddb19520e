"""The directory subcommands of `grid-console`: users, grids, people and rosters.

    grid-console users add NAME --role ROLE [--grid G]...   (the password from stdin)
    grid-console users list
    grid-console grids|people|rosters import FILE.csv|FILE.xlsx
    grid-console grids|people|rosters export FILE.csv|FILE.xlsx

Each opens the same database as `serve` (--data-dir / --db) and migrates it first, so it works
on a fresh data directory too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.auth.audit import CLI_ACTOR, record
from grid_console.auth.roles import Role, parse_role
from grid_console.clock import Clock
from grid_console.db.session import transaction
from grid_console.people.io import (
    FileImportError,
    Table,
    apply_rows,
    export_rows,
    read_rows,
    render,
)
from grid_console.people.models import Person
from grid_console.people.service import DirectoryError, add_person, find_person, grids_of


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    users = sub.add_parser("users", help="accounts")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", parents=[common], help="add a user; password from stdin")
    add.add_argument("name")
    add.add_argument("--role", required=True, help=", ".join(r.value for r in Role))
    add.add_argument("--grid", action="append", default=[], help="a grid of theirs (repeatable)")
    add.add_argument("--display-name")
    passwd = users_sub.add_parser("passwd", parents=[common], help="set a password from stdin")
    passwd.add_argument("name")
    users_sub.add_parser("list", parents=[common], help="list users")
    for table in Table:
        parser = sub.add_parser(table.value, help=f"import or export {table.value} (CSV, XLSX)")
        actions = parser.add_subparsers(dest="action", required=True)
        for action in ("import", "export"):
            one = actions.add_parser(action, parents=[common])
            one.add_argument("file", type=Path, help="FILE.csv or FILE.xlsx")


def run(
    args: argparse.Namespace,
    engine: Engine,
    clock: Clock,
    stdin: TextIO,
    out: Callable[[str], None],
) -> int:
    if args.command == "users":
        return _users(args, engine, clock, stdin, out)
    table = Table(args.command)
    if args.action == "export":
        with Session(engine) as session:
            data = render(export_rows(session, table), args.file.name, table.value)
        args.file.write_bytes(data)
        out(f"exported {table.value} to {args.file}")
        return 0
    try:
        content = args.file.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        rows = read_rows(table, content, str(args.file))
        now = clock()

        def work(session: Session) -> int:
            count = apply_rows(session, table, rows, now)
            record(
                session,
                actor=CLI_ACTOR,
                action=f"import_{table.value}",
                detail={"file": str(args.file)[:256], "rows": count},
                now=now,
            )
            return count

        count = transaction(engine, work)
    except FileImportError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    out(f"imported {count} row(s) of {table.value} from {args.file}")
    return 0


def _users(
    args: argparse.Namespace,
    engine: Engine,
    clock: Clock,
    stdin: TextIO,
    out: Callable[[str], None],
) -> int:
    if args.action == "list":
        with Session(engine) as session:
            for person in session.execute(select(Person).order_by(Person.username)).scalars():
                grids = ",".join(grids_of(session, person.id)) or "-"
                login = "login" if person.password_hash else "no-login"
                state = "active" if person.active else "inactive"
                out(f"{person.username}\t{person.role}\t{grids}\t{login}\t{state}")
        return 0
    password = _read_password(stdin)
    if args.action == "passwd":
        from grid_console.auth.passwords import hash_password  # noqa: PLC0415

        hashed = hash_password(password)

        def set_password(session: Session) -> None:
            person = find_person(session, args.name)
            if person is None:
                raise ValueError(f"no user {args.name!r}")
            person.password_hash = hashed
            record(
                session,
                actor=CLI_ACTOR,
                action="set_password",
                detail={"username": args.name},
                now=clock(),
            )

        transaction(engine, set_password)
        out(f"password of {args.name} set")
        return 0
    role = parse_role(args.role)

    def add(session: Session) -> None:
        now = clock()
        add_person(
            session,
            username=args.name,
            role=role,
            now=now,
            password=password,
            display_name=args.display_name,
            grids=args.grid,
        )
        record(
            session,
            actor=CLI_ACTOR,
            action="add_person",
            detail={"username": args.name, "role": role.value, "can_log_in": True},
            now=now,
        )

    try:
        transaction(engine, add)
    except DirectoryError as exc:
        raise ValueError(str(exc)) from None
    out(f"added {args.name} ({role.value})")
    return 0


def _read_password(stdin: TextIO) -> str:
    """One line from stdin (a pipe or a terminal): never a command-line argument, which
    other users can read in the process list."""
    if stdin.isatty():
        import getpass  # noqa: PLC0415

        return getpass.getpass("password: ")
    line = stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise ValueError("no password on stdin (echo PASSWORD | grid-console users add ...)")
    return password
