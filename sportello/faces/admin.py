"""Administration commands.

    python -m sportello.faces.admin add-operator USERNAME --name "Mario Rossi" [--admin] [--max-chats 3] [--password P]
    python -m sportello.faces.admin list-operators
    python -m sportello.faces.admin set-password USERNAME [--password P]
    python -m sportello.faces.admin disable-operator USERNAME
    python -m sportello.faces.admin erase --session ID | --contact EMAIL_OR_PHONE
    python -m sportello.faces.admin retention [--days N]
    python -m sportello.faces.admin backup [DEST]
    python -m sportello.faces.admin verify SRC
    python -m sportello.faces.admin restore SRC [--force]

`erase` anonymises a visitor's conversations (GDPR erasure): by session id, or
every conversation an email or phone number appears in. `retention`
anonymises the conversations ended more than RETENTION_DAYS (or --days) ago.
Both print what they did as JSON.

`backup` copies the store while the app runs (SQLite's online backup; `pg_dump` on PostgreSQL) to DEST
(a file, or a folder for a timestamped file; default BACKUP_DIR, keeping the newest BACKUP_KEEP).
`verify` checks a backup (integrity, schema version, rows per table; exit 1 when it is not usable).
`restore` replaces the store with a backup and migrates it forward; it refuses a live or non-empty
store without --force, and a backup from a newer schema.

Without --password the password is read from stdin (or asked twice on a
terminal), so it does not end up in the shell history.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from sportello.config import Settings
from sportello.domain import DomainError
from sportello.runtime import operator_accounts, privacy_tools
from sportello.services.backup import BackupError, BackupService
from sportello.services.operators import OperatorService


def _password(args) -> str:
    if args.password:
        return args.password
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise SystemExit("error: the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\n")


def _operator_id(accounts: OperatorService, username: str) -> int:
    try:
        return accounts.by_username(username)["id"]
    except DomainError:
        raise SystemExit(f"error: no operator '{username}'") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sportello.faces.admin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-operator", help="create an operator account")
    add.add_argument("username")
    add.add_argument("--name", required=True, help='display name, e.g. "Mario Rossi"')
    add.add_argument("--password", help="password (default: read from stdin)")
    add.add_argument("--admin", action="store_true", help="may manage other operators")
    add.add_argument("--max-chats", type=int, default=None, help="concurrent live chats (default 3)")
    sub.add_parser("list-operators", help="list operator accounts")
    pw = sub.add_parser("set-password", help="change an operator's password")
    pw.add_argument("username")
    pw.add_argument("--password")
    dis = sub.add_parser("disable-operator", help="disable an account and revoke its tokens")
    dis.add_argument("username")
    erase = sub.add_parser("erase", help="erase a visitor's data (by session id or by email/phone)")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--session", help="the session id")
    who.add_argument("--contact", help="an email address or a phone number")
    keep = sub.add_parser("retention", help="anonymise the conversations older than RETENTION_DAYS")
    keep.add_argument("--days", type=float, default=None, help="instead of RETENTION_DAYS")
    _backup_parsers(sub)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.command in ("backup", "verify", "restore"):
        return _backups(args, settings)
    if args.command in ("erase", "retention"):
        return _privacy(args, settings)
    with operator_accounts(settings) as accounts:
        try:
            if args.command == "add-operator":
                op = accounts.add(
                    args.username,
                    args.name,
                    _password(args),
                    is_admin=args.admin,
                    max_chats=args.max_chats or settings.default_max_chats,
                )
                print(f"created operator '{op['username']}' ({op['display_name']})")
            elif args.command == "list-operators":
                for op in accounts.list_operators():
                    print(json.dumps(op))
            elif args.command == "set-password":
                accounts.update(_operator_id(accounts, args.username), password=_password(args))
                print("password changed")
            elif args.command == "disable-operator":
                accounts.update(_operator_id(accounts, args.username), active=False)
                print("operator disabled")
        except DomainError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
    return 0


def _privacy(args, settings: Settings) -> int:
    with privacy_tools(settings) as privacy:
        try:
            if args.command == "erase":
                report = privacy.erase_session(args.session) if args.session else privacy.erase_contact(args.contact)
            else:
                report = privacy.retention(args.days)
        except DomainError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
    print(json.dumps(report))
    return 0


def _backup_parsers(sub) -> None:
    b = sub.add_parser("backup", help="back up the store (safe while the app runs)")
    b.add_argument("dest", nargs="?", help="a file, or a folder (default: BACKUP_DIR, DATA_DIR/backups)")
    v = sub.add_parser("verify", help="check a backup: integrity, schema version, rows per table")
    v.add_argument("src")
    r = sub.add_parser("restore", help="replace the store with a backup (then migrate it forward)")
    r.add_argument("src")
    r.add_argument("--force", action="store_true", help="overwrite a store that is running or holds data")


def _backups(args, settings: Settings) -> int:
    service = BackupService.from_settings(settings)
    try:
        if args.command == "backup":
            report = service.backup(args.dest)
        elif args.command == "verify":
            report = service.verify(args.src)
        else:
            report = service.restore(args.src, force=args.force)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0 if report.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
