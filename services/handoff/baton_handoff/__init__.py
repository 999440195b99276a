"""Baton handoff: the REST API. Ingests engagement webhooks, qualifies scored leads, routes MQLs
to reps, and gives CRMs accept/reject/first-response calls."""

SERVICE = "handoff"
SOURCE = "/baton/handoff"
