"""Every command, registered by importing the modules that hold them (the node decodes any)."""

from sdactors.ops import audit, browse, jobs, locations, node_ops, tags  # noqa: F401 - importing registers them
