"""The definitions in force and every version the handoff has run with, readable over the API."""
