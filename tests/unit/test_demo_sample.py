"""deploy/demo.py: the sample funnel is deterministic and realistic, and the replay client follows the API.

deploy/ is not a package, so demo.py is imported by path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from baton_contracts.definitions import EXAMPLE_PATH, load_definitions

DEMO_PATH = Path(__file__).resolve().parents[2] / "deploy" / "demo.py"
PROFILE_KEYS = {"first_name", "last_name", "title", "company", "domain", "employees", "industry", "country"}
EVENT_KEYS = {"external_id", "lead_id", "email", "activity", "occurred_at", "properties", "profile"}


def _load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("baton_demo_under_test", DEMO_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    return list(demo.generate_sample())


def _lead_key(event: dict[str, Any]) -> str:
    return str(event.get("lead_id") or event["email"])


def _first_profiles(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    profiles: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["profile"] is not None:
            profiles.setdefault(_lead_key(event), event["profile"])
    return profiles


# --------------------------------------------------------------------------------------------
# the sample


def test_the_sample_is_deterministic(sample: list[dict[str, Any]]) -> None:
    assert demo.generate_sample() == sample
    assert demo.generate_sample(leads=40, weeks=2) == demo.generate_sample(leads=40, weeks=2)
    assert demo.generate_sample(leads=40, weeks=2) != demo.generate_sample(leads=41, weeks=2)


def test_it_covers_a_few_hundred_leads_over_several_weeks(sample: list[dict[str, Any]]) -> None:
    leads = {_lead_key(e) for e in sample}
    assert len(leads) == 300
    assert all(_lead_key(e) in _first_profiles(sample) for e in sample), "every lead has a profile"
    times = [datetime.fromisoformat(e["occurred_at"]) for e in sample]
    start = demo.DEFAULT_START
    assert min(times) >= start
    assert max(times) < start + timedelta(weeks=3)
    assert max(times) - min(times) > timedelta(days=14)
    assert 1_500 <= len(sample) <= 4_000
    # activity spread over the weeks, not bunched at the start
    per_week = Counter((t - start).days // 7 for t in times)
    assert all(per_week[w] > len(sample) * 0.15 for w in range(3)), per_week


def test_events_are_time_ordered_and_timezone_aware(sample: list[dict[str, Any]]) -> None:
    times = [datetime.fromisoformat(e["occurred_at"]) for e in sample]
    assert all(t.tzinfo is not None and t.utcoffset() is not None for t in times)
    assert times == sorted(times)
    # each lead's own events are in order, and the profile comes with its first one
    seen: set[str] = set()
    for event in sample:
        key = _lead_key(event)
        if key not in seen:
            assert event["profile"] is not None, event
            seen.add(key)


def test_external_ids_are_unique_and_stable(sample: list[dict[str, Any]]) -> None:
    ids = [e["external_id"] for e in sample]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("evt-") for i in ids)
    per_lead: dict[str, list[str]] = {}
    for event in sample:
        per_lead.setdefault(_lead_key(event), []).append(event["external_id"])
    for lead_ids in per_lead.values():
        assert lead_ids == sorted(lead_ids), "a lead's ids follow its own order"


def test_ids_never_name_two_different_events() -> None:
    """The ids are the dedupe key: a replay with other arguments must not have its events dropped."""
    small = {e["external_id"]: e for e in demo.generate_sample(leads=50)}
    large = {e["external_id"]: e for e in demo.generate_sample(leads=120)}
    assert all(large[i] == event for i, event in small.items()), "the first leads are the same leads"
    other_window = {e["external_id"] for e in demo.generate_sample(leads=50, weeks=2)}
    assert not other_window & set(small)


def test_the_mix_is_realistic(sample: list[dict[str, Any]]) -> None:
    activities = Counter(e["activity"] for e in sample)
    total = len(sample)
    assert activities["page_view"] / total > 0.5, activities
    assert activities.most_common(1)[0][0] == "page_view"
    for activity in ("pricing_page_view", "content_download", "webinar_attended", "email_click", "form_submit"):
        assert activities[activity] > 10, activities
    assert 0 < activities["demo_request"] / total < 0.03, activities
    assert activities["contact_sales"] > 0
    assert activities["free_trial_signup"] > 0
    assert 0 < activities["unsubscribe"] < total * 0.03
    assert 0 < activities["email_bounce"] < total * 0.03

    leads = {_lead_key(e) for e in sample}
    converted = {_lead_key(e) for e in sample if e["activity"] in demo.CONVERSIONS}
    assert 0.03 < len(converted) / len(leads) < 0.25


def test_some_profiles_are_a_bad_fit(sample: list[dict[str, Any]]) -> None:
    profiles = _first_profiles(sample)
    emails = {_lead_key(e): e["email"] for e in sample}
    students = [p for p in profiles.values() if "student" in str(p.get("title", "")).lower()]
    gmail = [e for e in emails.values() if e.endswith("@gmail.com")]
    competitors = {c[1] for c in demo.COMPETITORS}
    competitor_leads = [p for p in profiles.values() if p.get("domain") in competitors]
    tiny = [p for p in profiles.values() if isinstance(p.get("employees"), int) and p["employees"] < 10]
    for name, group in (("students", students), ("gmail", gmail), ("competitors", competitor_leads), ("tiny", tiny)):
        assert len(group) >= 3, name
    bad_fit = len(students) + len(gmail) + len(competitor_leads) + len(tiny)
    assert bad_fit < len(profiles) * 0.4, "most leads are real prospects"
    # ... and most are the ICP: data and engineering people at mid-market companies
    mid_market = [p for p in profiles.values() if 50 <= int(p.get("employees") or 0) <= 5_000]
    assert len(mid_market) > len(profiles) * 0.5


def test_every_activity_is_one_the_definitions_score(sample: list[dict[str, Any]]) -> None:
    points = load_definitions(EXAMPLE_PATH).definitions.scoring.activity_points
    assert {e["activity"] for e in sample} <= set(points)
    # all of them are used, and some leads (not most) reach the MQL threshold on points alone
    assert {e["activity"] for e in sample} == set(points)
    threshold = load_definitions(EXAMPLE_PATH).definitions.qualification.mql_threshold
    scores: Counter[str] = Counter()
    for event in sample:
        scores[_lead_key(event)] += int(points[event["activity"]])
    qualified = sum(1 for s in scores.values() if s >= threshold)
    assert 0.08 < qualified / len(scores) < 0.35, qualified


def test_events_follow_the_webhook_contract(sample: list[dict[str, Any]]) -> None:
    email_only = 0
    for event in sample:
        assert set(event) <= EVENT_KEYS, event
        assert event.get("lead_id") or event.get("email")
        email_only += "lead_id" not in event
        assert "@" in event["email"]
        assert event["email"] == event["email"].lower()
        assert isinstance(event["properties"], dict)
        if event["profile"] is not None:
            assert set(event["profile"]) <= PROFILE_KEYS, event["profile"]
    assert 0 < email_only < len(sample) * 0.25, "a few leads are identified by email only"
    json.dumps(sample)  # plain JSON


def test_events_validate_against_the_handoff_webhook_model(sample: list[dict[str, Any]]) -> None:
    schemas = pytest.importorskip("baton_handoff.webhooks.schemas")
    for i in range(0, len(sample), demo.MAX_BATCH):
        schemas.GenericWebhook.model_validate({"source": demo.SOURCE, "events": sample[i : i + demo.MAX_BATCH]})


def test_arguments_are_checked() -> None:
    small = demo.generate_sample(leads=12, weeks=1, start=datetime(2027, 1, 4, 9, tzinfo=UTC))
    assert len({_lead_key(e) for e in small}) == 12
    assert all(e["occurred_at"].startswith("2027-01-") for e in small)
    with pytest.raises(ValueError, match="timezone-aware"):
        demo.generate_sample(start=datetime(2026, 11, 2))
    with pytest.raises(ValueError, match="at least 1"):
        demo.generate_sample(leads=0)


# --------------------------------------------------------------------------------------------
# the replay client, against an in-memory fake of the handoff and sla-monitor APIs


class FakeBaton:
    """Just enough of the contract: scores on arrival, qualifies at 50, round-robins four reps."""

    reps = ("ana.ortiz", "ben.carter", "chloe.martin", "dev.patel")
    NEXT = {"sal": ("sql",), "sql": ("opportunity",), "opportunity": ("won", "lost")}

    def __init__(self, *, unavailable_first: int = 1) -> None:
        definitions = load_definitions(EXAMPLE_PATH).definitions
        self.points = definitions.scoring.activity_points
        self.reasons = {r.code: r.sub_reasons for r in definitions.crm.rejection_reasons}
        self.leads: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.batch_sizes: list[int] = []
        self.received: list[dict[str, Any]] = []
        self.unavailable = unavailable_first
        self.accepts: list[tuple[str, str]] = []
        self.rejects: list[tuple[str, str, str]] = []
        self.stages: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/readyz":
            return httpx.Response(200, json={"status": "ok"})
        if method == "POST" and path == "/v1/webhooks/generic":
            if self.unavailable:
                self.unavailable -= 1
                return httpx.Response(503, headers={"Retry-After": "1"}, json={"title": "Storage unavailable"})
            return self._ingest(json.loads(request.content))
        if method == "GET" and path == "/v1/leads":
            state = request.url.params.get("state")
            limit = int(request.url.params.get("limit", "100"))
            items = [self._row(lead) for lead in self.leads.values() if state in (None, lead["state"])]
            return httpx.Response(200, json={"items": items[:limit], "total": len(items)})
        if method == "POST" and path.endswith(("/accept", "/reject")):
            lead = self.leads[path.split("/")[3]]
            body = json.loads(request.content)
            rep_id = body["rep_id"]
            if lead["state"] != "assigned" or rep_id != lead["rep_id"]:
                return httpx.Response(409, json={"title": "Conflict", "current_state": lead["state"]})
            if path.endswith("/accept"):
                self.accepts.append((lead["lead_id"], rep_id))
                self._move(lead, "sal", actor=f"rep:{rep_id}")
            elif body["reason"] not in self.reasons or body.get("sub_reason") not in {
                None,
                *self.reasons[body["reason"]],
            }:
                return httpx.Response(422, json={"title": "Invalid rejection"})
            else:
                self.rejects.append((lead["lead_id"], rep_id, body["reason"]))
                self._move(lead, "rejected", actor=f"rep:{rep_id}")
            return httpx.Response(200, json=self._row(lead))
        if method == "POST" and path.split("/")[-1] in demo.LATER_STAGES:
            lead, stage = self.leads[path.split("/")[3]], path.split("/")[-1]
            if stage not in self.NEXT.get(lead["state"], ()):
                return httpx.Response(409, json={"title": "Illegal transition", "current_state": lead["state"]})
            self.stages.append((lead["lead_id"], stage, json.loads(request.content)))
            self._move(lead, stage, actor="crm")
            return httpx.Response(200, json=self._row(lead))
        if method == "GET" and path.startswith("/v1/leads/") and path.endswith("/clocks"):
            lead = self.leads[path.split("/")[3]]
            clocks = [{"kind": "acceptance", "state": self._clock(lead), "due_at": "2026-11-23T18:00:00Z"}]
            return httpx.Response(200, json={"lead_id": lead["lead_id"], "milestones": {}, "clocks": clocks})
        if method == "GET" and path.startswith("/v1/leads/"):
            lead = self.leads[path.split("/")[3]]
            return httpx.Response(
                200, json={**self._row(lead), "definitions_version": "x", "timeline": lead["timeline"]}
            )
        if method == "GET" and path == "/v1/crm-webhook/deliveries":  # every assignment delivered at once
            delivered = sum(1 for lead in self.leads.values() if lead["rep_id"])
            total = {"delivered": delivered, "pending": 0, "failed": 0}[request.url.params["status"]]
            return httpx.Response(200, json={"items": [], "total": total})
        if method == "GET" and path == "/v1/clocks/summary":
            counts = Counter(self._clock(lead) for lead in self.leads.values() if lead["rep_id"])
            by_kind = {"acceptance": {s: counts[s] for s in ("running", "met", "breached", "cancelled")}}
            return httpx.Response(200, json={"as_of": "2026-11-23T15:00:00Z", "by_kind": by_kind})
        return httpx.Response(404, json={"title": "Not found"})

    def _ingest(self, body: dict[str, Any]) -> httpx.Response:
        events = body["events"]
        assert body["source"] == demo.SOURCE
        assert len(events) <= 500
        self.batch_sizes.append(len(events))
        accepted = duplicates = 0
        for event in events:
            self.received.append(event)
            if event["external_id"] in self.seen:
                duplicates += 1
                continue
            self.seen.add(event["external_id"])
            accepted += 1
            lead_id = event.get("lead_id") or "lead-" + hashlib.sha256(event["email"].encode()).hexdigest()[:10]
            lead = self.leads.setdefault(
                lead_id, {"lead_id": lead_id, "state": "known", "score": 0.0, "rep_id": None, "timeline": []}
            )
            lead["score"] += self.points[event["activity"]]
            if lead["state"] == "known" and lead["score"] >= 50:
                self._move(lead, "mql")
                lead["rep_id"] = self.reps[sum(1 for x in self.leads.values() if x["rep_id"]) % 4]
                self._move(lead, "assigned")
        return httpx.Response(202, json={"accepted": accepted, "duplicates": duplicates, "lead_ids": []})

    def _move(self, lead: dict[str, Any], to: str, *, actor: str = "system") -> None:
        step = {
            "from_state": lead["state"],
            "to_state": to,
            "at": "2026-11-23T15:00:00Z",
            "actor": actor,
            "reason": "test",
            "rep_id": lead["rep_id"],
        }
        lead["timeline"].append(step)
        lead["state"] = to

    @staticmethod
    def _row(lead: dict[str, Any]) -> dict[str, Any]:
        return {k: lead[k] for k in ("lead_id", "state", "score", "rep_id")} | {"updated_at": "2026-11-23T15:00:00Z"}

    @staticmethod
    def _clock(lead: dict[str, Any]) -> str:
        return "met" if lead["state"] in (*demo.ACCEPTED_STATES, "rejected") else "running"


def test_replay_sends_in_order_in_small_batches_accepts_some_and_summarises(sample: list[dict[str, Any]]) -> None:
    fake = FakeBaton(unavailable_first=2)
    out = io.StringIO()
    sleeps: list[float] = []
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        report = demo.replay(
            demo.BaseUrls("http://handoff", "http://sla"),
            sample,
            client=client,
            out=out,
            quiet_seconds=0,
            poll_interval=0,
            sleep=sleeps.append,
        )

    assert report.problems == []
    assert max(fake.batch_sizes) <= 200
    assert sum(fake.batch_sizes) == len(sample)
    assert fake.received == sample, "everything sent once, in time order"
    assert sleeps[:2] == [1.0, 1.0], "503 retried after Retry-After"
    assert report.events_sent == report.accepted == len(sample)
    assert report.duplicates == 0

    assigned_ever = [lead for lead in fake.leads.values() if lead["rep_id"]]
    assert len(assigned_ever) > 20
    assert 0.4 < len(fake.accepts) / len(assigned_ever) < 0.8
    for lead_id, rep in fake.accepts:
        timeline = [step["to_state"] for step in fake.leads[lead_id]["timeline"]]
        assert rep == fake.leads[lead_id]["timeline"][timeline.index("sal") - 1]["rep_id"]
    assert sum(report.states[state] for state in demo.ACCEPTED_STATES) == len(fake.accepts) == report.accepts
    reported = Counter(stage for _, stage, _ in fake.stages)
    assert report.stages == reported and reported["sql"] >= reported["opportunity"] >= 1
    assert reported["won"] + reported["lost"] >= 1
    assert {lead for lead, _, _ in fake.stages} <= {lead for lead, _ in fake.accepts}
    assert sum(accepted for _, accepted in report.reps.values()) == len(fake.accepts)
    assert 0.05 < len(fake.rejects) / len(assigned_ever) < 0.3
    assert {reason for _, _, reason in fake.rejects} >= {"bad_timing", "no_fit"}
    assert report.states["rejected"] == len(fake.rejects) == report.rejects
    assert not {lead for lead, _ in fake.accepts} & {lead for lead, _, _ in fake.rejects}
    assert report.clocks[("acceptance", "met")] == len(fake.accepts) + len(fake.rejects)
    assert report.crm_deliveries == {"delivered": len(assigned_ever), "pending": 0, "failed": 0}

    text = out.getvalue()
    assert f"CRM webhook       delivered {len(assigned_ever)}, pending 0, failed 0" in text
    for expected in (
        "Leads by state",
        "known",
        "assigned",
        "sal",
        "ana.ortiz",
        "SLA clocks",
        "running",
        "breached",
        "Example leads",
        "Wall time",
        "http://handoff/docs",
        "http://handoff/v1/leads/lead-",
    ):
        assert expected in text, expected
    assert len(report.examples) == 3


def test_replay_is_idempotent_and_accepts_the_same_leads(sample: list[dict[str, Any]]) -> None:
    fake = FakeBaton(unavailable_first=0)
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        kwargs: dict[str, Any] = {
            "client": client,
            "out": io.StringIO(),
            "quiet_seconds": 0,
            "poll_interval": 0,
            "sleep": lambda _: None,
        }
        demo.replay(demo.BaseUrls("http://h", "http://s"), sample, **kwargs)
        again = demo.replay(demo.BaseUrls("http://h", "http://s"), sample, **kwargs)
    assert again.accepted == 0
    assert again.duplicates == len(sample)
    assert again.accepts == again.rejects == 0, "the chosen leads were decided the first time"
    other = FakeBaton(unavailable_first=0)
    with httpx.Client(transport=httpx.MockTransport(other)) as client:
        demo.replay(
            demo.BaseUrls("http://h", "http://s"),
            sample,
            client=client,
            out=io.StringIO(),
            quiet_seconds=0,
            poll_interval=0,
            sleep=lambda _: None,
        )
    assert sorted(other.accepts) == sorted(fake.accepts), "the same leads are accepted on every run"
    assert sorted(other.rejects) == sorted(fake.rejects), "and the same rejected, for the same reasons"


def test_replay_reports_an_unreachable_service_clearly() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client, pytest.raises(demo.DemoError, match="handoff"):
        demo.replay(demo.BaseUrls("http://h", "http://s"), [], client=client, out=io.StringIO(), sleep=lambda _: None)


def test_the_clock_summary_is_read_per_kind_and_state() -> None:
    body = {"as_of": "2026-11-23T15:00:00Z", "by_kind": {"acceptance": {"running": 3, "met": 12, "breached": 0}}}
    assert demo.parse_clock_summary(body) == {
        ("acceptance", "running"): 3,
        ("acceptance", "met"): 12,
        ("acceptance", "breached"): 0,
    }
    assert demo.parse_clock_summary({"as_of": "2026-11-23T15:00:00Z", "by_kind": {}}) == {}


def test_about_sixty_percent_are_chosen_for_acceptance_stably() -> None:
    ids = [f"lead-{i:04d}" for i in range(2_000)]
    chosen = [i for i in ids if demo.chosen_for_acceptance(i, 0.6)]
    assert 0.55 < len(chosen) / len(ids) < 0.65
    assert chosen == [i for i in ids if demo.chosen_for_acceptance(i, 0.6)]


def test_the_crm_takes_better_fit_grades_further_in_funnel_order_stably() -> None:
    ids = [f"lead-{i:04d}" for i in range(2_000)]
    legal = [[], ["sql"], ["sql", "opportunity"], ["sql", "opportunity", "won"], ["sql", "opportunity", "lost"]]

    def opportunity_share(grade: str) -> float:
        paths = [demo.chosen_progress(i, grade) for i in ids]
        assert all([stage for stage, _ in path] in legal for path in paths)
        assert all(body["amount"] > 0 for path in paths for stage, body in path if stage == "won")
        return sum(1 for path in paths if len(path) >= 2) / len(paths)

    shares = [opportunity_share(grade) for grade in "ABCD"]
    assert shares == sorted(shares, reverse=True) and shares[0] > 2 * shares[-1]
    assert demo.chosen_progress("lead-0001", "A") == demo.chosen_progress("lead-0001", "A")
    assert demo.chosen_progress("lead-0001", None) == demo.chosen_progress("lead-0001", "D")
