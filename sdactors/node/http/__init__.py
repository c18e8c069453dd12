"""The node's HTTP API and Explorer (``sd node run`` serves them; ``app.py`` says what)."""
