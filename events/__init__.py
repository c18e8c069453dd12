"""The event log: envelope, canonical codec, clock, device keys, store and version vectors.

This package imports nothing else of the project: the log never knows who reads it.
"""
