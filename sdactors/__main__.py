"""``python -m sdactors`` is ``sd``."""

from sdactors.cli.main import main

if __name__ == "__main__":
    main()
