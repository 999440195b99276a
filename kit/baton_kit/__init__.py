"""Baton's plumbing: no domain nouns here, only parameters.

Kafka consumer runner, producer, transactional outbox and relay, inbox, database engine and
migrations, settings base, logging, metrics, ops endpoints, clock, embedded broker.
"""
