"""What a service prints when its configuration is bad: the variable and the problem, never a secret."""

from __future__ import annotations

import pytest

from baton_handoff.settings import HandoffSettings
from baton_kit.settings import load_settings

DATABASE_URL = "postgresql+asyncpg://baton:db-password-123@db.internal/handoff"
ADMIN_KEY = "bk_admin_supersecretadminkey0000000000"
CRM_SECRET = "whsec_c2VjcmV0LXZhbHVlLW5vdC10by1wcmludA=="
STARTS = {"DATABASE_URL": DATABASE_URL, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}  # what a start needs


def refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]) -> str:
    for name in (
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "HTTP_PORT",
        "ADMIN_API_KEY",
        "CRM_WEBHOOK_URL",
        "CRM_WEBHOOK_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings(HandoffSettings)
    assert stopped.value.code == 2
    return capsys.readouterr().err


def test_a_missing_setting_is_named_without_printing_the_others(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(
        monkeypatch,
        capsys,
        {"DATABASE_URL": DATABASE_URL, "ADMIN_API_KEY": ADMIN_KEY, "CRM_WEBHOOK_SECRET": CRM_SECRET},
    )
    assert "KAFKA_BOOTSTRAP_SERVERS: Field required (not set)" in err
    for secret in (DATABASE_URL, ADMIN_KEY, CRM_SECRET, "db-password-123"):
        assert secret not in err


def test_a_cross_field_error_prints_no_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(
        monkeypatch,
        capsys,
        {**STARTS, "ADMIN_API_KEY": ADMIN_KEY, "CRM_WEBHOOK_URL": "http://127.0.0.1:9/crm"},  # and no secret
    )
    assert "CRM_WEBHOOK_SECRET" in err
    for secret in (DATABASE_URL, ADMIN_KEY, "db-password-123"):
        assert secret not in err


def test_a_bad_plain_value_is_shown_and_a_bad_secret_is_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(
        monkeypatch,
        capsys,
        {**STARTS, "HTTP_PORT": "eighty"},
    )
    assert "HTTP_PORT: " in err and "(got 'eighty')" in err
    assert DATABASE_URL not in err


def test_a_malformed_crm_webhook_secret_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Else every delivery would fail at its signature, before any request, and nothing would say why."""
    err = refused(
        monkeypatch,
        capsys,
        {**STARTS, "CRM_WEBHOOK_URL": "http://127.0.0.1:9/crm", "CRM_WEBHOOK_SECRET": "whsec_not-base64!"},
    )
    assert "CRM_WEBHOOK_SECRET: a whsec_ secret must be base64" in err
    assert "not-base64" not in err
