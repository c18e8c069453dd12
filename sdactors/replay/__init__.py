"""Reading a log like a person: rendering events, following paths through it, time travel."""
