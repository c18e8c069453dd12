"""The shapes of arguments many ops take, declared once."""

from __future__ import annotations

from events.shapes import AbsPath, Bytes, Int, Maybe, Text

# A library, by its id or its name; None: the only one there is.
LIBRARY = Maybe(Text(1, 256))
# A path as the client resolved it where the user typed it (the node's working directory is
# not the user's): bytes, as a name need not be UTF-8.
PATH = Bytes(min=1, max=4096)
# A path a file operation touches: absolute, and without a '.' or '..' component.
CLEAN_PATH = AbsPath()
# A log position to read the index as it was at (time travel), or None for the present.
AT = Maybe(Int(0, (1 << 63) - 1))
