"""Replay and debugging over the log: snapshots of the read models at positions (time
travel), what --at names, and bisecting a condition over folded states."""
