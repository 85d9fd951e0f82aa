"""Who may do what, in one table: every handler and store operation consults `RULES`.

A rule names the roles that may perform an operation and whether a role's scope must cover the
subject's mission (a PBPO of MINUSCA validates MINUSCA lessons; scope "" is every mission). It
may also let the subject's own people act (the author of a lesson, the owner of an action), or
their managers (a manager acts on what their people wrote or own). Admins may do everything,
everywhere, except what nobody may do to their own subject: nobody validates their own lesson.

`can` answers with a `Decision` whose `who_can` is friendly text for the denial ("the author's
manager (Ngozi Okafor), a PBPO of MINUSCA or an admin"); `require` raises `NotAllowed` with it.
This module is pure: `knowledge.roles` builds actors and subjects from the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from knowledge.errors import NotAllowed
from knowledge.models import Role


class Operation(StrEnum):
    """Everything the rules decide; the values are also the audit's operation names."""

    ASK = "ask"
    CAPTURE = "capture"
    START_AAR = "start_aar"
    VALIDATE_LESSON = "validate_lesson"
    REQUEST_CHANGES = "request_changes"
    REJECT_LESSON = "reject_lesson"
    APPLY_LESSON = "apply_lesson"
    WITHDRAW_LESSON = "withdraw_lesson"
    PROMOTE_PRACTICE = "promote_practice"
    FLAG_PRIORITY = "flag_priority"
    CURATE_SEARCH = "curate_search"  # boost, down-rank or hide a lesson in search
    ADD_ACTION = "add_action"  # propose follow-up actions on a validated lesson
    MANAGE_OWN_ACTION = "manage_own_action"
    MANAGE_ACTION = "manage_action"  # someone else's action
    GRANT_ROLE = "grant_role"
    REVOKE_ROLE = "revoke_role"
    VIEW_DASHBOARD = "view_dashboard"
    VIEW_AUDIT = "view_audit"
    EXPORT_REPORT = "export_report"


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may perform one operation (admins always may, unless `not_own` stops them)."""

    verb: str  # completes "Only … can <verb>."
    roles: frozenset[Role] = frozenset()  # these roles may, within their scope
    scoped: bool = True  # a role's scope must cover the subject's mission
    own: bool = False  # the subject's own people (its authors, its owner) may
    managers: bool = False  # the managers of the subject's people may
    members: bool = False  # anyone in the staff directory may
    public: bool = False  # anyone at all, people unknown to the directory too
    not_own: bool = False  # nobody may do it to their own subject, admins neither


_PBPO = frozenset({Role.PBPO})
_CURATORS = frozenset({Role.PBPO, Role.MISSION_LEADER})
_REPORTERS = frozenset({Role.MANAGER, Role.PBPO, Role.MISSION_LEADER})

RULES: dict[Operation, Rule] = {
    Operation.ASK: Rule("ask the lessons index", public=True),
    Operation.CAPTURE: Rule("log lessons", members=True),
    Operation.START_AAR: Rule("start an After-Action Review", members=True),
    Operation.VALIDATE_LESSON: Rule("validate this lesson", _PBPO, managers=True, not_own=True),
    Operation.REQUEST_CHANGES: Rule(
        "ask for changes to this lesson", _PBPO, managers=True, not_own=True
    ),
    Operation.REJECT_LESSON: Rule("reject this lesson", _PBPO, managers=True, not_own=True),
    Operation.APPLY_LESSON: Rule("mark this lesson applied", _PBPO, managers=True),
    Operation.WITHDRAW_LESSON: Rule("withdraw this lesson", _PBPO, own=True, managers=True),
    Operation.PROMOTE_PRACTICE: Rule("promote this good practice", _PBPO),
    Operation.FLAG_PRIORITY: Rule("flag this lesson as a priority", _CURATORS),
    Operation.CURATE_SEARCH: Rule("change where this lesson ranks in search", _PBPO),
    Operation.ADD_ACTION: Rule("add actions to this lesson", _PBPO, own=True, managers=True),
    Operation.MANAGE_OWN_ACTION: Rule("update this action", own=True),
    Operation.MANAGE_ACTION: Rule("update this action", _CURATORS, managers=True),
    Operation.GRANT_ROLE: Rule("grant roles"),
    Operation.REVOKE_ROLE: Rule("revoke roles"),
    Operation.VIEW_DASHBOARD: Rule("see the dashboard", public=True),
    Operation.VIEW_AUDIT: Rule("see the audit trail", _CURATORS),
    Operation.EXPORT_REPORT: Rule("export reports", _REPORTERS),
}

ROLE_NAMES = {
    Role.STAFF: "a member of staff",
    Role.MANAGER: "a manager",
    Role.PBPO: "a PBPO",
    Role.MISSION_LEADER: "a mission leader",
    Role.ADMIN: "an admin",
}
# What a subject's own people and their managers are called, by kind of subject.
_OWNERS = {
    "lesson": ("the author", "the author's manager"),
    "action": ("the action's owner", "the owner's manager"),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person of the directory (None: unknown) and their (role, scope) pairs."""

    person_id: int | None
    roles: frozenset[tuple[Role, str]] = frozenset()

    def holds(self, role: Role, missions: Iterable[str] = ()) -> bool:
        """Return True when a role of theirs covers one of these missions (or every mission)."""
        wanted = {m.casefold() for m in missions}
        return any(r == role and (s == "" or s.casefold() in wanted) for r, s in self.roles)


@dataclass(frozen=True, slots=True)
class Subject:
    """What an operation acts on: its missions, its people and their managers.

    `missions` are where it belongs (a lesson's product mission and its lead author's);
    none means it belongs nowhere in particular, so only roles of every mission cover it.
    """

    kind: str = ""  # "lesson", "action", "role", "" (the organisation as a whole)
    missions: frozenset[str] = frozenset()
    people: frozenset[int] = frozenset()  # authors or owner
    managers: frozenset[int] = frozenset()  # their managers
    names: tuple[str, ...] = ()  # the people's names, for messages
    manager_names: tuple[str, ...] = ()


EVERYWHERE = Subject()


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether an operation is allowed, and who could do it (for a friendly denial)."""

    allowed: bool
    who_can: str
    own: bool = False  # denied because nobody may do this to their own subject

    def __bool__(self) -> bool:
        return self.allowed


def can(actor: Actor, op: Operation, subject: Subject = EVERYWHERE) -> Decision:
    """Decide whether actor may perform op on subject, by the one table `RULES`."""
    rule = RULES[op]
    who_can = describe(rule, subject)
    known = actor.person_id is not None
    mine = known and actor.person_id in subject.people
    if rule.not_own and mine:
        return Decision(False, who_can, own=True)
    allowed = (
        rule.public
        or (known and rule.members)
        or (known and any(role == Role.ADMIN for role, _ in actor.roles))  # everywhere
        or (rule.own and mine)
        or (rule.managers and known and actor.person_id in subject.managers)
        or any(_covers(actor, role, rule, subject) for role in rule.roles)
    )
    return Decision(allowed, who_can)


def require(actor: Actor, op: Operation, subject: Subject = EVERYWHERE) -> None:
    """Raise NotAllowed, saying who can, unless actor may perform op on subject."""
    decision = can(actor, op, subject)
    if decision.allowed:
        return
    verb = RULES[op].verb
    if decision.own:
        who = decision.who_can[:1].upper() + decision.who_can[1:]
        raise NotAllowed(f"You can't {verb}: it is your own. {who} can.")
    raise NotAllowed(f"Only {decision.who_can} can {verb}.")


def describe(rule: Rule, subject: Subject = EVERYWHERE) -> str:
    """Return who may act under a rule on a subject, in words ("a PBPO of MINUSCA or an admin")."""
    if rule.public:
        return "anyone"
    if rule.members:
        return "anyone in the staff directory"
    own, managers = _OWNERS.get(subject.kind, ("the person concerned", "their manager"))
    parts: list[str] = []
    if rule.own:
        parts.append(own + _named(subject.names))
    if rule.managers and (subject.managers or not subject.people):
        parts.append(managers + _named(subject.manager_names))
    where = _where(subject) if rule.scoped else ""
    roles = [ROLE_NAMES[role] for role in sorted(rule.roles, key=list(Role).index)]
    if roles:  # "a manager, PBPO or mission leader of MINUSCA"
        names = roles[:1] + [name.split(" ", 1)[1] for name in roles[1:]]
        parts.append(_either(names, "or") + where)
    parts.append(ROLE_NAMES[Role.ADMIN])
    return _either(parts, "or", serial=any(" or " in part for part in parts))


def _covers(actor: Actor, role: Role, rule: Rule, subject: Subject) -> bool:
    if not rule.scoped:
        return any(r == role for r, _ in actor.roles)
    return actor.holds(role, subject.missions)


def _where(subject: Subject) -> str:
    missions = sorted(m for m in subject.missions if m)
    if not missions:
        return " for every mission"
    return " of " + _either(missions, "or")


def _named(names: tuple[str, ...]) -> str:
    return f" ({_either(list(names), 'or')})" if names else ""


def _either(items: list[str], word: str, *, serial: bool = False) -> str:
    """Join items as "a, b or c" ("a or b, or c" when an item has an "or" of its own)."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + ("," if serial else "") + f" {word} {items[-1]}"
