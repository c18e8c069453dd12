"""Durable jobs: long work whose life is events (see ``sdactors.actors.job_manager``)."""
