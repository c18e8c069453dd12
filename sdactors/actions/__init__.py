"""User actions: validate against the read models, then append events through the Journal."""
