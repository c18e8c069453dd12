"""Every command, registered by importing the modules that hold them (the node decodes any)."""

from sdactors.ops import (  # noqa: F401 - importing registers them
    annotations,
    audit,
    browse,
    drop,
    files,
    jobs,
    libraries,
    locations,
    log,
    log_read,
    media,
    network,
    node_ops,
    projections,
    tags,
    thumb_fetch,
    trash,
    volumes,
    web,
    why,
)
