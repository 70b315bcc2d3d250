"""Demo accounts for the demo production, so that a newcomer can sign in as each role."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from portal.accounts import AccountStore

DEMO_GUILD = "SAG-AFTRA"
DEMO_MEMBERS = ("performer:dana-whitfield", "performer:omar-haddad")
DEMO_PERFORMER = "performer:dana-whitfield"
ALPHABET = string.ascii_letters + string.digits


def new_password() -> str:
    """Four groups of five letters and digits (119 bits), easy to copy from a terminal."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(5)) for _ in range(4))


@dataclass(frozen=True)
class DemoAccount:
    name: str
    role: str
    guild: str | None
    password: str
    parties: tuple[str, ...] = ()


def demo_accounts(store: AccountStore, production: str) -> list[DemoAccount]:
    """(Re)create counsel, guild-rep, auditor, admin and performer with fresh random passwords.

    The guild representative is SAG-AFTRA's, whose roster holds the demo's two performers;
    the performer is Dana Whitfield, who sees the uses of her likeness and nothing else.
    """
    made = []
    for name, role, guild, parties in (
        ("counsel", "counsel", None, ()),
        ("guild-rep", "guild", DEMO_GUILD, ()),
        ("auditor", "auditor", None, ()),
        ("admin", "admin", None, ()),
        ("performer", "performer", None, (DEMO_PERFORMER,)),
    ):
        password = new_password()
        grants = [production] if role in ("counsel", "guild") else []
        if store.get(name) is None:
            store.add(name, role, grants, password, guild, parties)
        else:
            store.set_password(name, password)
        made.append(DemoAccount(name, role, guild, password, parties))
    store.add_members(DEMO_GUILD, DEMO_MEMBERS)
    return made
