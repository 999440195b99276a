from __future__ import annotations

import hashlib


def normalise_email(email: str) -> str:
    return email.strip().lower()


def lead_id_from_email(email: str) -> str:
    """A stable lead id for a sender that has none: a hash of the normalised email (no PII in keys)."""
    return "em-" + hashlib.sha256(normalise_email(email).encode()).hexdigest()[:20]
