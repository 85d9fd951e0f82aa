"""scheduler: open actions by due date, actions by change, assignment ends and roles indexed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

After a person's first plan the planner nudges only the actions whose due date reached a new
cadence point (about 260 dates a day, a few of them with actions) or that changed since the
last plan. `ix_actions_open_due (due_date, owner_id)`, partial on open and in-progress actions,
reads just those dates' ranges; `ix_actions_updated (updated_at)` finds the few changed.
End-of-assignment reminders and departures read `ix_people_assignment_end` (only people with an
end date), PBPO digests `ix_person_roles_role (role, person_id)`, instead of looking up every
person planned.
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OPEN = "status IN ('open', 'in_progress')"
ENDING = "assignment_end IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        'ix_actions_open_due', 'actions', ['due_date', 'owner_id'], unique=False,
        postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN), postgresql_include=['id'],
    )
    op.create_index('ix_actions_updated', 'actions', ['updated_at'], unique=False)
    op.create_index(
        'ix_people_assignment_end', 'people', ['assignment_end'], unique=False,
        postgresql_where=sa.text(ENDING), sqlite_where=sa.text(ENDING),
    )
    op.create_index('ix_person_roles_role', 'person_roles', ['role', 'person_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_person_roles_role', table_name='person_roles')
    op.drop_index('ix_people_assignment_end', table_name='people')
    op.drop_index('ix_actions_updated', table_name='actions')
    op.drop_index('ix_actions_open_due', table_name='actions')
