"""Roles from chat: `/lessons role grant @person pbpo MINUSCA`, `role revoke …`, `roles`.

Admins grant and revoke roles (`knowledge.permissions` says so; anyone else is told who can);
anyone in the directory may list who holds which role. A role is scoped to a mission or office
when one is named after it (a PBPO of MINUSCA validates MINUSCA lessons); without one it holds
everywhere. People are named as mentions, emails or @Name, as everywhere else.
"""

from __future__ import annotations

from handlers import reach
from handlers.chat import Reply, Text, UserRef
from handlers.deps import Deps
from handlers.errors import UserError
from knowledge.models import Role
from knowledge.roles import ROLE_WORDS, Holder, RoleChange, Roles, role_named

WORDS = frozenset({"role", "roles"})
GRANT, REVOKE = frozenset({"grant", "give", "add"}), frozenset({"revoke", "remove", "take"})
LISTED = 40
USAGE = """*Roles*
• `/lessons roles`: who holds which role; `/lessons roles @name`: one person's roles
• `/lessons role grant @name pbpo MINUSCA`: a role, scoped to a mission or office (admins only)
• `/lessons role grant @name admin`: a role that holds everywhere
• `/lessons role revoke @name pbpo MINUSCA`
The roles: staff, manager, pbpo, mission_leader, admin."""
_LABELS = {
    Role.STAFF: "member of staff",
    Role.MANAGER: "manager",
    Role.PBPO: "PBPO",
    Role.MISSION_LEADER: "mission leader",
    Role.ADMIN: "admin",
}


def requested(text: str) -> bool:
    """Return True when a command or message is about roles, not a question on them.

    `roles`, `role grant …`, `roles list`, `roles @name` are; "roles of women in mediation"
    is a question.
    """
    word, _, rest = text.strip().lower().lstrip("/").partition(" ")
    if word not in WORDS:
        return False
    verb = rest.strip().partition(" ")[0]
    return (
        verb in ("", "list", "show", "who", "help", "?")
        or verb in GRANT | REVOKE
        or (verb.startswith(("@", "<@", "<at>")) or ("@" in verb and "." in verb))
    )


async def command(who: UserRef, text: str, deps: Deps) -> Reply:
    """Grant, revoke or list roles, as the text says."""
    verb, _, rest = text.strip().partition(" ")[2].strip().partition(" ")
    verb = verb.lower()
    if verb in GRANT or verb in REVOKE:
        return await _change(who, verb in GRANT, rest, deps)
    if verb in ("", "list", "show", "who"):
        return await _list(rest, deps)
    if verb in ("help", "?"):
        return Reply.of(Text(USAGE), private=True)
    return await _list(f"{verb} {rest}", deps)  # `roles @name`


async def _change(who: UserRef, grant: bool, text: str, deps: Deps) -> Reply:
    person_text, role, scope = split_grant(text)
    member = await reach.named(person_text, deps)
    actor = await deps.store.person_for(who.platform, who.user_id)
    roles = Roles(deps.store)
    change = roles.grant if grant else roles.revoke
    done = await change(member.id, role, scope=scope, actor_id=actor, surface=who.platform)
    line = _change_line(done, grant)
    if done.changed and grant and member.id != actor:
        by = who.display_name or "An admin"
        news = f"{by} made you {_role_words(done.role, done.scope)} in Lessons Bot."
        if await reach.send(member, Reply.of(Text(news)), deps):
            line += f" I told {member.name}."
    return Reply.of(Text(line), Text(f"Their roles now: {_roles_text(done.holder)}."), private=True)


def split_grant(text: str) -> tuple[str, Role, str]:
    """Split "@Farida Rahimi pbpo MINUSCA" into the person, the role and the scope."""
    words = text.split()
    for i in range(1, len(words)):
        for width in (2, 1):
            said = " ".join(words[i : i + width])
            if "_".join(said.lower().split()) in ROLE_WORDS:
                return " ".join(words[:i]), role_named(said), " ".join(words[i + width :])
    raise UserError(
        "Name the person, then the role, then the mission if it is scoped: "
        "`/lessons role grant @Farida Rahimi pbpo MINUSCA`."
    )


async def _list(text: str, deps: Deps) -> Reply:
    roles = Roles(deps.store)
    if text.strip():
        member = await reach.named(text, deps)
        [holder] = await roles.holders(member.id)
        return Reply.of(Text(f"*{holder.name}*: {_roles_text(holder)}."), private=True)
    holders = await roles.holders()
    if not holders:
        return Reply.of(Text("Nobody holds a role beyond staff yet."), private=True)
    lines = ["*Who holds which role*"]
    lines += [f"• {h.name}: {_roles_text(h)}" for h in holders[:LISTED]]
    if len(holders) > LISTED:
        lines.append(f"…and {len(holders) - LISTED} more: `lessons roles list` prints them all.")
    return Reply.of(Text("\n".join(lines)), Text(USAGE.split("\n", 1)[0]), private=True)


def _change_line(done: RoleChange, grant: bool) -> str:
    role = _role_words(done.role, done.scope)
    name = done.holder.name
    if grant:
        return f"✅ {name} is now {role}." if done.changed else f"{name} is {role} already."
    if done.changed:
        return f"✅ {name} is no longer {role}."
    return f"{name} is not {role}, so nothing changed."


def _role_words(role: Role, scope: str) -> str:
    label = _LABELS[role]
    article = "an" if label[0] in "aeiou" else "a"
    return f"{article} {label} of {scope}" if scope else f"{article} {label}"


def _roles_text(holder: Holder) -> str:
    return ", ".join(holder.labels) or "no role"
