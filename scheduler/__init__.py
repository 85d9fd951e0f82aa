"""Reminders and digests (nudges for overdue actions, manager digests): see issue 7."""
