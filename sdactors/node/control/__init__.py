"""The control socket: frames between ``sd`` and a node."""
