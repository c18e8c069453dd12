"""Actors and the node: managers, messages, supervision, and the ``sd`` command."""
