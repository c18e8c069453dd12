"""An open library: its handle, the Journal, the event bus, the Projector, its health."""
