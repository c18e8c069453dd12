"""``python -m sdactors`` is ``sd``."""

from sdactors.cli.main import main

main()
