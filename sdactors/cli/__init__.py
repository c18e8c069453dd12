"""The ``sd`` command."""
