"""Baton scoring: consumes `lead.engagement`, keeps each lead's score, emits `lead.scored`."""

SERVICE = "scoring"
