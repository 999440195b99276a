"""Per-source mapping of realistic sample payloads (tests/fixtures/webhooks/) to engagement and profile data.

Pure: the packaged mappings file, the wire-format splitters and the mapper; no database, no clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from baton_handoff.webhooks.exceptions import InvalidPayload, UnsupportedMediaType
from baton_handoff.webhooks.formats import (
    CLOUDEVENTS_BATCH,
    CLOUDEVENTS_JSON,
    cloudevent_documents,
    hubspot_documents,
    map_documents,
    marketo_documents,
    segment_documents,
    standard_webhook_documents,
)
from baton_handoff.webhooks.mapping import MappedEvent, Mappings, load_mappings, map_document
from baton_handoff.webhooks.rules import lead_id_from_email

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
MAPPINGS: Mappings = load_mappings()
MARIA = "maria.lopez@acme-analytics.example"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def by_id(events: list[MappedEvent]) -> dict[str, MappedEvent]:
    return {e.external_id: e for e in events}


def test_hubspot_batch_maps_form_conversion_profile_properties_and_opt_out_and_ignores_the_rest() -> None:
    events, ignored = map_documents(hubspot_documents(fixture("hubspot_batch.json")), MAPPINGS.sources["hubspot"])
    mapped = by_id(events)
    assert ignored == 2  # a company property change and a contact deletion
    assert {e.lead_id for e in events} == {"hubspot-62515-10451", "hubspot-62515-20987"}
    assert mapped["3817730101"].activity == "contact_created"
    assert mapped["3817730102"].profile == {"email": MARIA}
    assert mapped["3817730102"].email == MARIA
    assert mapped["3817730103"].profile == {"title": "VP Data"}
    assert mapped["3817730104"].profile == {"employees": 420}  # HubSpot sends strings; the contract wants an int
    demo = mapped["3817730105"]
    assert (demo.activity, demo.properties) == (
        "demo_request",
        {"form": "Demo request", "change_source": "FORM", "subscription_id": 2381921},
    )
    assert demo.occurred_at == datetime(2026, 11, 23, 9, 20, 0, 250000, tzinfo=UTC)
    assert mapped["3817730106"].activity == "unsubscribe"


@pytest.mark.parametrize(
    ("conversion", "activity"),
    [
        ("Request a demo", "demo_request"),
        ("TALK TO SALES", "contact_sales"),
        ("Download: SLO handbook", "content_download"),
        ("Newsletter signup", "form_submit"),
    ],
)
def test_hubspot_conversion_names_map_through_the_table_case_insensitively(conversion: str, activity: str) -> None:
    document = {
        "eventId": 9,
        "portalId": 1,
        "objectId": 2,
        "occurredAt": 1795425600000,
        "subscriptionType": "contact.propertyChange",
        "propertyName": "recent_conversion_event_name",
        "propertyValue": conversion,
    }
    mapped = map_document(document, MAPPINGS.sources["hubspot"], external_id="9")
    assert mapped is not None
    assert mapped.activity == activity


def test_segment_batch_maps_identify_page_and_track_and_skips_anonymous_and_group_calls() -> None:
    events, ignored = map_documents(segment_documents(fixture("segment_batch.json")), MAPPINGS.sources["segment"])
    mapped = by_id(events)
    assert ignored == 2  # an anonymous page view, a group call
    identify = mapped["ajs-next-1795425600001-a1"]
    assert (identify.lead_id, identify.activity, identify.email) == ("usr_8f2a61", None, MARIA)
    assert identify.profile == {
        "first_name": "María",
        "last_name": "López",
        "title": "VP Data",
        "company": "Acme Analytics",
        "employees": 420,
        "industry": "Software",
        "country": "ES",
    }
    pricing = mapped["ajs-next-1795425601002-a2"]
    assert pricing.activity == "pricing_page_view"
    assert pricing.properties["url"] == "https://northwind.example/pricing"
    demo = mapped["ajs-next-1795425780123-a3"]
    assert (demo.activity, demo.email, demo.properties["seats"]) == ("demo_request", MARIA, 25)
    # no userId, but an email: the lead is the email's derived id; an unknown event keeps its name as a slug
    replay = mapped["ajs-next-1795425790000-b1"]
    assert (replay.lead_id, replay.activity) == (
        lead_id_from_email("li.wei@borealis-data.example"),
        "webinar_replay_watched",
    )


def test_segment_single_call_is_accepted_without_a_batch_wrapper() -> None:
    call = fixture("segment_batch.json")["batch"][2]
    assert [external_id for _, external_id, _ in segment_documents(call)] == ["ajs-next-1795425780123-a3"]


def test_marketo_calls_map_the_program_token_else_the_trigger_with_the_profile_and_the_receipt_time() -> None:
    received = datetime(2026, 11, 23, 15, 0, 41, tzinfo=UTC)
    documents = marketo_documents(fixture("marketo_calls.json"), received_at=received)
    events, ignored = map_documents(documents, MAPPINGS.sources["marketo"])
    assert ignored == 1, "the anonymous visit has neither a Marketo id nor an email"
    by_lead = {e.lead_id: e for e in events}
    demo = by_lead["marketo-1048576"]
    assert (demo.activity, demo.email, demo.occurred_at) == ("demo_request", MARIA, received)
    assert demo.profile == {
        "first_name": "Maria",
        "last_name": "Lopez",
        "title": "Director of Data Engineering",
        "department": "Engineering",
        "company": "Acme Analytics",
        "industry": "Computer Software",
        "employees": 420,
        "country": "US",
    }
    assert demo.properties == {
        "trigger": "Fills Out Form",
        "asset": "Demo Request Form",
        "campaign": "Demo request - send to Baton",
        "campaign_id": "5120",
    }
    assert {lead: e.activity for lead, e in by_lead.items()} == {
        "marketo-1048576": "demo_request",
        "marketo-1048577": "form_submit",  # no program token: the trigger decides
        "marketo-1048578": "email_click",
        "marketo-1048579": "unsubscribe",
        "marketo-1048580": "data_value_changes",  # an unlisted trigger is kept (and scores 0)
    }
    assert "employees" not in by_lead["marketo-1048577"].profile, "an empty token is no value"


def test_marketo_has_no_event_id_so_the_same_call_within_a_minute_is_one_event() -> None:
    call = fixture("marketo_calls.json")[0]
    first = marketo_documents(call, received_at=datetime(2026, 11, 23, 15, 0, 5, tzinfo=UTC))
    retried = marketo_documents(call, received_at=datetime(2026, 11, 23, 15, 0, 55, tzinfo=UTC))
    later = marketo_documents(call, received_at=datetime(2026, 11, 23, 15, 1, 5, tzinfo=UTC))
    assert first[0][1] == retried[0][1] != later[0][1]
    assert marketo_documents({**call, "event_id": 77}, received_at=datetime.now(UTC))[0][1] == "77"
    with pytest.raises(InvalidPayload) as refused:
        marketo_documents(["not an object"], received_at=datetime.now(UTC))
    assert [e["field"] for e in refused.value.extra["errors"]] == ["[0]"]


def test_standard_webhook_with_a_generic_event_in_data_maps_activity_profile_and_email() -> None:
    documents = standard_webhook_documents(fixture("standard_webhook_form.json"), msg_id="msg_2Lh9")
    [event], ignored = map_documents(documents, MAPPINGS.sources["standard-webhooks"])
    assert ignored == 0
    assert event.external_id == "msg_2Lh9"
    assert (event.lead_id, event.activity, event.email) == (lead_id_from_email(MARIA), "contact_sales", MARIA)
    assert event.profile == {
        "first_name": "María",
        "last_name": "López",
        "company": "Acme Analytics",
        "employees": 420,
        "country": "ES",
    }
    assert event.properties == {"form": "Talk to sales", "page": "/contact"}
    assert event.occurred_at == datetime(2026, 11, 23, 9, 42, 58, tzinfo=UTC)


def test_structured_cloudevent_is_mapped_by_its_sources_own_table() -> None:
    body = (FIXTURES / "cloudevent_webinar.json").read_bytes()
    documents = cloudevent_documents(body, content_type=CLOUDEVENTS_JSON + "; charset=utf-8", headers={})
    [event], _ = map_documents(documents, MAPPINGS.sources["webinar-platform"])
    assert event.external_id == "https://api.webinarly.example/webinars/wbn_204 att-7d1c9e"
    assert (event.activity, event.lead_id) == ("webinar_attended", lead_id_from_email(MARIA))
    assert event.properties == {"webinar_id": "wbn_204", "webinar": "Data observability in 30 minutes", "minutes": 41}
    assert event.profile["company"] == "Acme Analytics"


def test_cloudevents_batch_mode_maps_each_event_and_ignores_unmapped_types() -> None:
    body = (FIXTURES / "cloudevents_batch.json").read_bytes()
    events, ignored = map_documents(
        cloudevent_documents(body, content_type=CLOUDEVENTS_BATCH, headers={}), MAPPINGS.sources["webinar-platform"]
    )
    assert [e.activity for e in events] == ["webinar_registration", "webinar_attended"]
    assert ignored == 1


def test_binary_mode_cloudevent_takes_attributes_from_ce_headers_and_data_from_the_body() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "evt-91",
        "ce-source": "/crm/trials",
        "ce-type": "trial.started",
        "ce-time": "2026-11-23T10:00:00Z",
    }
    body = (FIXTURES / "cloudevent_binary_data.json").read_bytes()
    [event], _ = map_documents(
        cloudevent_documents(body, content_type="application/json", headers=headers), MAPPINGS.sources["cloudevents"]
    )
    assert event.external_id == "/crm/trials evt-91"
    assert (event.lead_id, event.activity) == ("crm-00Q5e000003kLmN", "free_trial_signup")
    assert event.profile == {"company": "Cobalt Labs", "domain": "cobalt-labs.example", "employees": 85}


def test_binary_mode_without_required_attributes_names_the_missing_headers() -> None:
    with pytest.raises(InvalidPayload) as caught:
        cloudevent_documents(b"{}", content_type="application/json", headers={"ce-id": "x"})
    assert {e["field"] for e in caught.value.extra["errors"]} == {"ce-source", "ce-type", "ce-specversion"}


def test_a_body_that_is_no_cloudevents_mode_is_unsupported_media() -> None:
    with pytest.raises(UnsupportedMediaType):
        cloudevent_documents(b"{}", content_type="text/plain", headers={})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([{"subscriptionType": "contact.creation"}], "[0].eventId"),
        ([{"eventId": 1, "portalId": 1, "objectId": 2, "subscriptionType": "contact.creation"}], "[0].occurredAt"),
        (
            [
                {
                    "eventId": 1,
                    "portalId": 1,
                    "objectId": 2,
                    "occurredAt": 1,
                    "subscriptionType": "contact.propertyChange",
                    "propertyName": "numberofemployees",
                    "propertyValue": "about forty",
                }
            ],
            "[0].propertyValue",
        ),
        (
            [
                {
                    "eventId": 1,
                    "portalId": 1,
                    "objectId": 2,
                    "occurredAt": 1,
                    "subscriptionType": "contact.propertyChange",
                    "propertyName": "email",
                    "propertyValue": "not-an-email",
                }
            ],
            "[0].propertyValue",
        ),
    ],
)
def test_hubspot_errors_name_the_field_by_its_path(payload: Any, field: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        map_documents(hubspot_documents(payload), MAPPINGS.sources["hubspot"])
    assert [e["field"] for e in caught.value.extra["errors"]] == [field]


def test_segment_call_without_message_id_names_it() -> None:
    with pytest.raises(InvalidPayload) as caught:
        segment_documents({"batch": [{"type": "track", "event": "Demo Requested"}]})
    assert caught.value.extra["errors"][0]["field"] == "batch[0].messageId"


def test_a_mapping_with_an_unknown_profile_field_is_refused_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "mappings.yaml"
    bad.write_text("sources:\n  x:\n    occurred_at: {path: t}\n    rules:\n      - profile: {job: title}\n")
    with pytest.raises(ValueError, match=r"sources\.x\.rules\.0\.profile.*unknown profile fields \['job'\]"):
        load_mappings(bad)
