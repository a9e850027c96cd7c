"""Who may do what: three roles, the actions each allows, and the check core calls make.

Roles are ordered: an analyst may do all a viewer may, an admin all an analyst may. While no
user exists (the embedded default on one laptop) access control is off and every caller acts
as OPEN, which may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("viewer", "analyst", "admin")

# The least role each action needs.
ACTIONS = {
    "explore": "viewer",  # Home, Clients, Payments, client lookups, averages
    "view_models": "viewer",  # leaderboards, versions, jobs, model cards
    "score": "analyst",  # the Score form and files, the API's predictions
    "train": "analyst",  # submit and cancel training jobs
    "load_data": "admin",  # load or replace the data set
    "set_champion": "admin",
    "set_policy": "admin",  # save a version's policy threshold (the cut-off scoring uses)
    "manage_users": "admin",  # add, remove, change roles, make and revoke API keys
    "view_audit": "admin",
}


class AccessDenied(PermissionError):
    """The actor's role does not allow the action; the message says which role would."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, an API key's owner, or a process of the product."""

    name: str
    role: str

    def may(self, action: str) -> bool:
        """Whether this actor's role allows `action` (one of ACTIONS)."""
        return ROLES.index(self.role) >= ROLES.index(ACTIONS[action])


# Every caller while access control is off, and the product's own processes (the CLI run by
# whoever holds the database URL, workers).
OPEN = Actor("anonymous (access control off)", "admin")
SYSTEM = Actor("system", "admin")


def require(actor: Actor, action: str) -> None:
    """Raise AccessDenied unless `actor` may do `action`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    if not actor.may(action):
        raise AccessDenied(
            f"{actor.name} ({actor.role}) may not {describe(action)}: "
            f"it needs the {ACTIONS[action]} role"
        )


def describe(action: str) -> str:
    """The action in words, for messages."""
    return {
        "explore": "explore clients",
        "view_models": "see models and jobs",
        "score": "score clients",
        "train": "train models",
        "load_data": "load data",
        "set_champion": "choose the champion",
        "set_policy": "set the policy threshold",
        "manage_users": "manage users",
        "view_audit": "read the audit log",
    }[action]


def check_role(role: str) -> str:
    """`role` if it is one of ROLES, else ValueError naming the choices."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role
