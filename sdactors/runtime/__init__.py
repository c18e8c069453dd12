"""What every room of sdactors stands on: errors and their messages, paths, the
data directory's files, logs, locks, supervision."""
