"""Durable jobs: long work whose life is events (see ``sdactors.jobs.manager``)."""
