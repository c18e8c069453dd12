"""Replaying a log to debug it: rendering events for people, following paths through the
log (history), explaining an event, snapshots of the read models for time travel, bisect."""
