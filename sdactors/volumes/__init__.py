"""Volumes: detecting what is mounted, classifying it, naming it stably, and timing it."""
