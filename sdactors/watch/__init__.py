"""Live watching: which folders of which locations changed, for the node to rescan them."""
