"""One actor per module, its messages beside it."""
