"""Test harness shared by every Baton test: Kafka, databases, service processes, waiting.

Importable as `support` from any test module (pytest puts `tests/` on `sys.path` because the root
`tests/conftest.py` lives there). Fixtures that wrap these helpers are in `tests/conftest.py`.
"""
