"""The node: the process that serves a data directory, its libraries and its control socket."""
