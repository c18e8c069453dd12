"""Spacedrop (``sd/drop/1``): offers, sending, receiving, the inbox."""
