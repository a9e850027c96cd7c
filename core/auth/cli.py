"""`python -m core users ...` and `python -m core audit`: manage who may use the product.

Passwords are never arguments: they are asked for at a prompt, or read from the first line of
stdin when stdin is not a terminal (scripts, compose). The CLI acts as the product itself
(core.auth.SYSTEM): whoever can run it holds the database URL already.
"""

from __future__ import annotations

import getpass
import os
import sys

from core.auth import audit
from core.auth.access import ROLES, SYSTEM
from core.auth.users import (
    UserError,
    access_control_on,
    add_user,
    list_users,
    new_key,
    remove_user,
    revoke_key,
    set_password,
    set_role,
)
from core.db.engine import get_engine
from core.settings import get_settings


def add_users_command(commands) -> None:
    users = commands.add_parser("users", help="manage users, roles and API keys")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.set_defaults(handler=run_add)
    actions.add_parser("list", help="list users").set_defaults(handler=run_list)
    remove = actions.add_parser("remove", help="remove a user and their API keys")
    remove.add_argument("name")
    remove.set_defaults(handler=run_remove)
    role = actions.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(handler=run_role)
    password = actions.add_parser("password", help="set a new password (lifts a lock)")
    password.add_argument("name")
    password.set_defaults(handler=run_password)
    key = actions.add_parser("key", help="make an API key (printed once, on the last line)")
    key.add_argument("name")
    key.set_defaults(handler=run_key)
    revoke = actions.add_parser("revoke", help="revoke an API key by its prefix (ck_xxxxxxxx)")
    revoke.add_argument("prefix")
    revoke.set_defaults(handler=run_revoke)
    first = actions.add_parser(
        "init-admin",
        help="add ADMIN_USER with ADMIN_PASSWORD (environment) as admin when no user exists",
    )
    first.set_defaults(handler=run_init_admin)
    log = commands.add_parser("audit", help="show the audit log, newest first")
    log.add_argument("--limit", type=int, default=50)
    log.set_defaults(handler=run_audit)


def _engine():
    return get_engine(get_settings().database_url)


def read_password(prompt: str = "Password: ") -> str:
    """A password from a prompt (asked twice), or the first line of stdin when it is not a
    terminal."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise UserError("no password: give it on the first line of stdin")
        return line.rstrip("\r\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise UserError("the two passwords differ; nothing was changed")
    return first


def run_add(args) -> int:
    add_user(_engine(), args.name, read_password(), args.role, actor=SYSTEM)
    print(f"added {args.name} as {args.role}; access control is on")
    return 0


def run_list(args) -> int:
    users = list_users(_engine())
    if not users:
        print("no users: access control is off (anyone who reaches the dashboard or API)")
        return 0
    print(f"{'name':<24} {'role':<8} {'API keys':>8}  last login (UTC)")
    for user in users:
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        locked = "  locked" if user.locked_until else ""
        print(f"{user.name:<24} {user.role:<8} {user.keys:>8}  {last}{locked}")
    return 0


def run_remove(args) -> int:
    remove_user(_engine(), args.name, actor=SYSTEM)
    print(f"removed {args.name}")
    return 0


def run_role(args) -> int:
    set_role(_engine(), args.name, args.role, actor=SYSTEM)
    print(f"{args.name} is now {args.role}")
    return 0


def run_password(args) -> int:
    set_password(_engine(), args.name, read_password("New password: "), actor=SYSTEM)
    print(f"new password set for {args.name}")
    return 0


def run_key(args) -> int:
    key = new_key(_engine(), args.name, actor=SYSTEM)
    print(f"API key for {args.name}, shown this once (send it as 'Authorization: Bearer KEY'):")
    print(key)
    return 0


def run_revoke(args) -> int:
    owner = revoke_key(_engine(), args.prefix, actor=SYSTEM)
    print(f"revoked {owner}'s key {args.prefix}")
    return 0


def run_init_admin(args) -> int:
    engine = _engine()
    if access_control_on(engine):
        print("users exist already; ADMIN_USER is not added")
        return 0
    name, password = os.environ.get("ADMIN_USER"), os.environ.get("ADMIN_PASSWORD")
    if not name or not password:
        raise UserError("set ADMIN_USER and ADMIN_PASSWORD to make the first admin")
    add_user(engine, name, password, "admin", actor=SYSTEM)
    print(f"added {name} as admin; access control is on")
    return 0


def run_audit(args) -> int:
    for entry in audit.recent(_engine(), args.limit):
        print(f"{entry.at:%Y-%m-%d %H:%M:%S}  {entry.actor:<20} {entry.action:<20} {entry.detail}")
    return 0
