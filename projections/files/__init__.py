"""Locations and their entries: the file index, with folder closure, content identities,
totals and the name pages search reads.

One projection (``fold``) folds both ``location.*`` and ``entries.*`` because they depend on
each other in log order (an entry belongs to a location that exists at that point of the log).

Entries are stored **by folder**, not one row each. A folder's children live in *listing*
rows of up to ``PART_MAX`` children; their names, folded for search, live in *pages* of names
of one length. Per-row costs in SQLite (and in Python's sqlite3) are several microseconds
whatever the row holds; a row per entry made the fold the slowest part of indexing by far.
Grouping by folder matches how entries are used: the indexer compares folder by folder,
``sd ls`` lists a folder, and every event item names its folder.

The modules, each holding one part of the index:

- ``schema``: the tables, and the local ids rows are keyed by.
- ``listings``: a folder's children, in parts. The one module that knows how a child is
  laid out; every reader outside it gets a :class:`~projections.files.listings.Child`.
- ``tree``: folders, their paths and the closure of their ancestors.
- ``counters``: contents (instances per content id), totals per location, and the highest
  eid each device has used.
- ``names``: the name pages search reads.
- ``fold``: the projection itself; its handlers apply each event through the parts above.
- ``query``: reading the index: what the indexer compares against, ``sd ls``, ``sd stats``,
  ``sd duplicates``.
- ``search``: ``sd search``, and :func:`~projections.files.search.rank_of`, its definition.
"""
