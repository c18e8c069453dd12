"""Agents: plugins that read the library and propose audited actions (``protocol``), and
the AgentManager that runs them."""
