"""Read models folded from the event log. Imports ``events`` only.

Every table here is disposable: ``rebuild`` folds the whole log into a fresh index.db.
"""
