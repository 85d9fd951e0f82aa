"""Microsoft Teams on the Microsoft 365 Agents SDK: POST /api/messages beside /slack/events."""
