"""The scoring service in-process (its real lifespan: migrations, consumer, relay, decay review) against
the real broker and both databases, with a frozen clock so decay is exact.

Events go in through `lead.engagement` on the broker; scores are read back through the HTTP API and
from `lead.scored` on the broker. Lead ids are unique per test (the topics are shared by the session).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI
from prometheus_client import REGISTRY
from support.kafka import produce_events, read_topic
from support.waits import eventually

from baton_contracts import CloudEvent, Topic, dlq_topic, new_event, parse_event
from baton_contracts.events import EngagementRecorded, EventType, ProfileUpdated
from baton_kit.clock import FrozenClock
from baton_scoring.app import create_app
from baton_scoring.settings import ScoringSettings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Scoring:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FrozenClock
    bootstrap: str

    async def score(self, lead_id: str) -> dict[str, Any] | None:
        response = await self.client.get(f"/v1/leads/{lead_id}/score")
        return response.json() if response.status_code == 200 else None

    async def wait_for(
        self, lead_id: str, until: Callable[[dict[str, Any]], bool], *, what: str, timeout: float = 30
    ) -> dict[str, Any]:
        result = await eventually(
            lambda: self.score(lead_id), until=lambda s: s is not None and until(s), timeout=timeout, what=what
        )
        assert result is not None
        return result


@asynccontextmanager
async def scoring_service(database_url: str, bootstrap: str, **settings: Any) -> AsyncIterator[Scoring]:
    clock = FrozenClock(NOW)
    config = ScoringSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        consumer_group=f"test-scoring-{uuid.uuid4().hex[:8]}",
        kafka_session_timeout_ms=2_000,
        kafka_fetch_max_wait_ms=20,
        **settings,
    )
    app = create_app(config, clock=clock)
    async with app.router.lifespan_context(app):
        await eventually(
            lambda: all(c.ready.is_set() for c in app.state.runtime.consumers), until=bool, what="consumer joined"
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            yield Scoring(app=app, client=client, clock=clock, bootstrap=bootstrap)


def engagement(
    lead_id: str, activity: str, at: datetime, *, n: int, email: str | None = None, **properties: Any
) -> CloudEvent[EngagementRecorded]:
    data = EngagementRecorded(
        lead_id=lead_id,
        activity=activity,
        occurred_at=at,
        source="tests",
        external_id=f"{lead_id}-{n}",
        email=email or f"{lead_id}@northwind-customer.example",
        properties=properties,
    )
    return new_event(event_type=EventType.ENGAGEMENT_RECORDED, source="/tests", subject=lead_id, data=data, time=at)


def profile(lead_id: str, at: datetime, **fields: Any) -> CloudEvent[ProfileUpdated]:
    data = ProfileUpdated(lead_id=lead_id, occurred_at=at, source="tests", **fields)
    return new_event(event_type=EventType.PROFILE_UPDATED, source="/tests", subject=lead_id, data=data, time=at)


async def scored_events(bootstrap: str, lead_ids: set[str], *, expect: int, timeout: float = 20) -> list[Any]:
    """`lead.scored` events of `lead_ids`, read from the start of the (shared) topic until `expect` arrived."""
    consumer = AIOKafkaConsumer(
        Topic.LEAD_SCORED, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < expect:
            assert time.monotonic() < deadline, f"saw {len(found)} of {expect} lead.scored events"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    if record.key and record.key.decode() in lead_ids:
                        found.append(parse_event(record.value))
        await asyncio.sleep(0.3)
        for batch in (await consumer.getmany(timeout_ms=200)).values():
            found.extend(parse_event(r.value) for r in batch if r.key and r.key.decode() in lead_ids)
    finally:
        await consumer.stop()
    return found


def complete(score: dict[str, Any]) -> bool:
    """Every event of the plan below applied (6 engagement events and the profile)."""
    applied = sum(c["count"] for c in score["contributions"] if c["category"] == "engagement")
    return applied == 6 and score["profile"].get("title") == "VP of Data"


def unknown_activities() -> float:
    return REGISTRY.get_sample_value("baton_scoring_unknown_activities_total") or 0.0


async def test_late_and_repeated_events_score_the_same_as_in_order_with_a_full_explanation(
    database_url: str, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer
) -> None:
    suffix = uuid.uuid4().hex[:6]
    in_order, shuffled = f"ordered-{suffix}", f"shuffled-{suffix}"
    plan = [
        ("page_view", NOW - timedelta(days=20), {"url": "/blog/schema-drift"}),
        ("content_download", NOW - timedelta(days=12), {"asset": "report"}),
        ("page_view", NOW - timedelta(days=3), {"url": "/pricing"}),
        ("webinar_attended", NOW - timedelta(days=2), {}),
        ("podcast_listen", NOW - timedelta(days=1), {}),
        ("demo_request", NOW - timedelta(hours=5), {"form": "demo"}),
    ]
    ordered_events = [profile(in_order, NOW - timedelta(days=21), title="VP of Data", employees=400, country="US")]
    ordered_events += [engagement(in_order, a, at, n=i, **p) for i, (a, at, p) in enumerate(plan)]
    late = [engagement(shuffled, a, at, n=i, **p) for i, (a, at, p) in enumerate(plan)]
    random.Random(3).shuffle(late)
    # the same events again: a redelivery (same id) and a re-send by the source (new id, same external_id)
    repeats = [late[0], late[1].model_copy(update={"id": str(uuid.uuid4())})]
    late_profile = profile(shuffled, NOW - timedelta(days=21), title="VP of Data", employees=400, country="US")
    unknown_before = unknown_activities()

    async with scoring_service(database_url, kafka_bootstrap) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, ordered_events)
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, [*late[:3], *repeats, *late[3:], late_profile])
        first = await scoring.wait_for(in_order, complete, what="ordered lead scored")
        second = await scoring.wait_for(shuffled, complete, what="shuffled lead scored with its profile")

        # Every event of the ordered lead again, then one new event of another lead: once that one is
        # scored, the repeats before it were consumed, and they changed nothing, emitted nothing.
        marker = f"marker-{suffix}"
        await produce_events(
            kafka_producer, Topic.LEAD_ENGAGEMENT, [*ordered_events, engagement(marker, "page_view", NOW, n=0)]
        )
        await scoring.wait_for(marker, lambda s: True, what="the event after the repeats scored")
        repeated = await scoring.score(in_order)
    assert repeated == first  # no rescore, no new history row

    assert second["contributions"] == first["contributions"]
    assert (second["score"], second["grade"], second["demand_state"]) == (
        first["score"],
        first["grade"],
        "partner_aware",
    )
    assert first["high_intent"] == ["demo_request"]
    lines = {c["rule"]: c for c in first["contributions"]}
    assert lines["fit:seniority"]["points"] == 20
    assert lines["fit:company_size"]["points"] == 25
    webinar = lines["engagement:webinar_attended"]
    assert webinar["raw_points"] == 15
    assert webinar["decay_factor"] == pytest.approx(0.5 ** (2 / 60), abs=1e-4)
    assert lines["engagement:pricing_page_visit"]["count"] == 1  # a page view of /pricing, by its url filter
    assert lines["activity:podcast_listen"] == {**lines["activity:podcast_listen"], "count": 1, "points": 0}
    assert unknown_activities() - unknown_before >= 2  # stored, scored 0, counted (other tests share the topic)
    assert first["definitions_version"].startswith("sha256:")
    assert sum(c["points"] for c in first["contributions"]) == pytest.approx(first["score"], abs=0.05)

    published = await scored_events(kafka_bootstrap, {in_order}, expect=1)
    latest = published[-1].data
    assert latest.definitions_version == first["definitions_version"]
    assert latest.score == first["score"]
    assert latest.grade == first["grade"]
    assert latest.profile.title == "VP of Data"
    assert [c.model_dump(mode="json") for c in latest.contributions] == first["contributions"]


async def test_an_event_scoring_cannot_take_is_dead_lettered_and_the_partition_moves_on(
    database_url: str, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer
) -> None:
    """Valid by its schema, but not storable (an integer wider than 64 bits in its properties): it used to
    stop the consumer, and the service to restart into the same record."""
    suffix = uuid.uuid4().hex[:6]
    unstorable = engagement(f"wide-{suffix}", "page_view", NOW, n=1, count=2**70)
    after = engagement(f"after-{suffix}", "page_view", NOW, n=2)
    async with scoring_service(database_url, kafka_bootstrap, consumer_max_retries=1) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, [unstorable, after])
        await scoring.wait_for(after.data.lead_id, lambda s: True, what="the event after it scored")
        unscored = await scoring.score(unstorable.data.lead_id)

    async def dead_letters() -> list[Any]:  # the topic is shared by the session's tests: this lead's only
        records = await read_topic(kafka_bootstrap, dlq_topic(Topic.LEAD_ENGAGEMENT), expect=0, settle=0.2)
        return [r for r in records if r.key == unstorable.data.lead_id.encode()]

    dead = await eventually(dead_letters, until=lambda d: len(d) >= 1, what="the unstorable event dead-lettered")
    assert unscored is None
    assert dead[0].header("error.reason") == "handler_failed"
    assert "64-bit" in dead[0].header("error.message")


@pytest.mark.postgres
async def test_events_of_a_batch_that_failed_are_not_counted_by_the_batches_after_it(
    make_database_url: Any, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer
) -> None:
    """A record PostgreSQL refuses (a NUL in its external id) fails its batch, then each of its tries:
    what `prepare` had folded into the lead's memory was never stored, and must not be counted by the
    batches prepared after it (the next one is prepared while a batch commits)."""
    lead_id = f"retried-{uuid.uuid4().hex[:6]}"
    at = NOW - timedelta(hours=1)
    events = [engagement(lead_id, "webinar_attended", at, n=1)]
    refused = engagement(lead_id, "demo_request", at, n=2)
    events.append(refused.model_copy(update={"data": refused.data.model_copy(update={"external_id": "bad\x00id"})}))
    events += [
        engagement(lead_id, activity, at, n=n)
        for n, activity in enumerate(["content_download", "content_download", "page_view", "page_view"], start=3)
    ]
    async with scoring_service(
        make_database_url("postgresql"), kafka_bootstrap, consumer_max_batch=2, consumer_max_retries=2
    ) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, events)
        final = await scoring.wait_for(
            lead_id,
            lambda s: sum(c["count"] for c in s["contributions"] if c["category"] == "engagement") >= 5,
            what="every storable event scored",
        )
    counts = {c["rule"]: c["count"] for c in final["contributions"] if c["category"] == "engagement"}
    assert counts == {"engagement:webinar_attended": 1, "engagement:content_download": 2, "engagement:page_view": 2}
    assert final["high_intent"] == []  # the demo request was dead-lettered, never stored


async def test_decay_review_emits_a_lower_band_when_engagement_goes_stale(
    database_url: str, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer
) -> None:
    lead_id = f"stale-{uuid.uuid4().hex[:6]}"
    events = [
        engagement(lead_id, "webinar_attended", NOW - timedelta(hours=2), n=1),
        engagement(lead_id, "content_download", NOW - timedelta(hours=1), n=2),
        engagement(lead_id, "pricing_page_view", NOW - timedelta(minutes=30), n=3),
    ]
    async with scoring_service(database_url, kafka_bootstrap, decay_review_interval_seconds=0.05) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, events)
        fresh = await scoring.wait_for(
            lead_id,
            lambda s: (
                sum(c["count"] for c in s["contributions"] if c["category"] == "engagement") == len(events)
                and s["engagement_score"] > 30
            ),
            what="all three events scored, in band 3",
        )
        assert fresh["engagement_band"] == 3
        review_at = datetime.fromisoformat(fresh["next_review_at"])
        # nothing happens before the review time; just after it the band drops and a new score is emitted
        scoring.clock.set(review_at - timedelta(minutes=5))
        await asyncio.sleep(0.3)
        assert len((await scoring.score(lead_id) or {})["history"]) == len(fresh["history"])
        scoring.clock.set(review_at + timedelta(minutes=1))
        stale = await scoring.wait_for(lead_id, lambda s: s["history"][0]["reason"] == "decay", what="decay review")

    assert stale["engagement_band"] == 2
    assert stale["engagement_score"] < 30
    assert stale["history"][0]["cause_event_id"] is None
    published = await scored_events(kafka_bootstrap, {lead_id}, expect=len(stale["history"]))
    assert [e.data.engagement_band for e in published][-1] == 2


async def test_a_late_profile_update_falls_in_place_by_its_time(
    database_url: str, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer
) -> None:
    lead_id = f"profile-{uuid.uuid4().hex[:6]}"
    newer = profile(lead_id, NOW - timedelta(days=1), title="VP of Data", country="US")
    older = profile(lead_id, NOW - timedelta(days=9), title="Data Analyst", country="DE", employees=400)
    async with scoring_service(database_url, kafka_bootstrap) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, [newer])
        first = await scoring.wait_for(lead_id, lambda s: s["profile"]["title"] == "VP of Data", what="first profile")
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, [older])  # arrives late
        merged = await scoring.wait_for(
            lead_id, lambda s: len(s["history"]) > len(first["history"]), what="rescored with the late profile"
        )
    # The newer update's fields win, whatever the arrival order; the older one adds what it alone has.
    assert (merged["profile"]["title"], merged["profile"]["country"], merged["profile"]["employees"]) == (
        "VP of Data",
        "US",
        400,
    )


async def test_a_lead_that_stops_counting_for_its_account_is_stored_anew_and_emits_nothing(
    database_url: str, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer, tmp_path: Any
) -> None:
    """The account's engaged stakeholders are counted from the leads' stored scores: a decay review
    stores the lead's score when it falls under the account's threshold (here 20, inside band 2), even
    though nothing a qualification rule reads of the lead changed, so it emits no `lead.scored`."""
    from test_handoff_harness import write_definitions

    domain = f"fading-{uuid.uuid4().hex[:6]}.example"
    lead_id, colleague = f"{domain}-a", f"{domain}-b"
    events = [
        engagement(lead_id, "webinar_attended", NOW - timedelta(hours=2), n=1, email=f"a@{domain}"),
        engagement(lead_id, "content_download", NOW - timedelta(hours=1), n=2, email=f"a@{domain}"),
    ]
    definitions = write_definitions(tmp_path / "definitions.yaml", {"scoring": {"account": {"engaged_min_score": 20}}})
    async with scoring_service(
        database_url, kafka_bootstrap, definitions_path=definitions, decay_review_interval_seconds=0.05
    ) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, events)
        fresh = await scoring.wait_for(
            lead_id, lambda s: s["engagement_score"] >= 20, what="engaged: both events scored"
        )
        review_at = datetime.fromisoformat(fresh["next_review_at"])
        scoring.clock.set(review_at + timedelta(minutes=1))
        faded = await scoring.wait_for(lead_id, lambda s: s["engagement_score"] < 20, what="the review stored it")
        await produce_events(
            kafka_producer, Topic.LEAD_ENGAGEMENT, [engagement(colleague, "page_view", NOW, n=3, email=f"b@{domain}")]
        )
        seen_by_colleague = await scoring.wait_for(colleague, lambda s: True, what="a colleague scored")

    assert review_at < NOW + timedelta(days=30)  # well before its band would drop (under 10, about two months)
    assert (faded["engagement_band"], len(faded["history"])) == (2, len(fresh["history"]))  # nothing emitted
    assert datetime.fromisoformat(faded["next_review_at"]) > review_at
    assert seen_by_colleague["account"]["engaged_stakeholders"] == 0


async def test_a_new_definitions_file_rescores_the_stored_leads_at_the_next_start(
    database_url: str, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer, tmp_path: Any
) -> None:
    """Not each at a review time the old file set (months away, or never): the review takes them now."""
    import yaml

    from baton_contracts.definitions import EXAMPLE_PATH

    lead_id = f"redefined-{uuid.uuid4().hex[:6]}"
    events = [engagement(lead_id, "webinar_attended", NOW - timedelta(hours=1), n=1)]
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    document["scoring"]["engagement"]["bands"] = [5, 8, 12]  # the same events, a higher band
    stricter = tmp_path / "definitions.yaml"
    stricter.write_text(yaml.safe_dump(document))
    async with scoring_service(database_url, kafka_bootstrap) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, events)
        before = await scoring.wait_for(lead_id, lambda s: True, what="scored under the example")
    async with scoring_service(
        database_url, kafka_bootstrap, definitions_path=str(stricter), decay_review_interval_seconds=0.05
    ) as scoring:
        after = await scoring.wait_for(
            lead_id, lambda s: s["definitions_version"] != before["definitions_version"], what="rescored at start"
        )
    assert (before["engagement_band"], after["engagement_band"]) == (2, 4)
    assert after["history"][0]["reason"] == "decay"


async def test_account_counts_engaged_stakeholders_and_excludes_free_mail(
    database_url: str, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer
) -> None:
    domain = f"acct-{uuid.uuid4().hex[:6]}.example"
    leads = [f"{domain}-{name}" for name in ("cto", "eng", "intern", "gmail")]
    emails = {lead_id: f"{lead_id.split('-')[-1]}@{domain}" for lead_id in leads}
    emails[leads[3]] = "someone@gmail.com"
    events = [
        engagement(
            lead_id,
            "page_view" if "intern" in lead_id else "webinar_attended",
            NOW - timedelta(hours=1),
            n=i,
            email=emails[lead_id],
        )
        for i, lead_id in enumerate(leads)
    ]
    async with scoring_service(database_url, kafka_bootstrap) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, events)
        for lead_id in leads:
            await scoring.wait_for(lead_id, lambda s: True, what=f"{lead_id} scored")
        # the account snapshot is taken when a lead is scored: score the CTO again, after the others
        await produce_events(
            kafka_producer, Topic.LEAD_ENGAGEMENT, [engagement(leads[0], "page_view", NOW, n=9, email=emails[leads[0]])]
        )
        cto = await scoring.wait_for(leads[0], lambda s: len(s["history"]) >= 2, what="cto rescored")
        personal = await scoring.score(leads[3])

    assert cto["account"] == {
        "account_key": domain,
        "engaged_stakeholders": 2,
        "engagement_score": pytest.approx(cto["engagement_score"] + 15 + 1, abs=0.1),
    }
    assert personal is not None
    assert personal["account"] is None
    assert "free_mail_domain" in {c["rule"].removeprefix("negative:") for c in personal["contributions"]}


async def test_simulate_reports_leads_that_a_candidate_rulebook_would_lose_without_touching_state(
    database_url: str, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer, tmp_path: Any
) -> None:
    import json
    import sys

    import yaml

    from baton_contracts.definitions import EXAMPLE_PATH

    lead_id = f"sim-{uuid.uuid4().hex[:6]}"
    events = [
        profile(
            lead_id,
            NOW - timedelta(days=3),
            title="Head of Data",
            employees=300,
            industry="Computer Software",
            country="US",
            company="Quarry Labs",
        ),
        engagement(lead_id, "webinar_attended", NOW - timedelta(days=2), n=1, email=f"x@{lead_id}.example"),
        engagement(lead_id, "content_download", NOW - timedelta(days=1), n=2, email=f"x@{lead_id}.example"),
    ]
    candidate = yaml.safe_load(EXAMPLE_PATH.read_text())
    candidate["scoring"]["engagement"]["total_cap"] = 9
    candidate_path = tmp_path / "candidate.yaml"
    candidate_path.write_text(yaml.safe_dump(candidate))
    async with scoring_service(database_url, kafka_bootstrap) as scoring:
        await produce_events(kafka_producer, Topic.LEAD_ENGAGEMENT, events)
        before = await scoring.wait_for(lead_id, lambda s: s["engagement_score"] > 20, what="scored")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "baton_scoring",
            "simulate",
            "--candidate",
            str(candidate_path),
            "--database-url",
            database_url,
            "--until",
            NOW.isoformat(),
            "--json",
            "--scores-out",
            str(tmp_path / "scores.jsonl"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        after = await scoring.score(lead_id)
    from baton_kit.db import create_engine, read_transaction, session_factory
    from baton_scoring.simulate import load_window

    engine = create_engine(database_url)
    try:
        async with read_transaction(session_factory(engine)) as session:
            window = await load_window(session, since=NOW - timedelta(days=1, hours=12), until=NOW)
            before_it = await load_window(session, since=None, until=NOW - timedelta(days=1, hours=12))
    finally:
        await engine.dispose()
    assert [a.activity for a in window[lead_id].activities] == ["content_download"]  # only the window's events
    assert [a.activity for a in before_it[lead_id].activities] == ["webinar_attended"]
    assert window[lead_id].profile["title"] == "Head of Data"  # with the profile as it stood at `until`
    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    assert lead_id in [change["lead_id"] for change in report["lost"]]
    # What the handoff's `simulate --scores` reads: the lead.scored this lead would get under the candidate
    from baton_contracts.events import LeadScored

    written = [LeadScored.model_validate_json(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    mine = next(score for score in written if score.lead_id == lead_id)
    assert (mine.engagement_score, mine.definitions_version) == (9, report["candidate_version"])
    assert report["candidate_version"] != report["current_version"]
    assert after == before  # nothing live changed
