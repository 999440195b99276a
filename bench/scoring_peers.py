"""The scoring job in peer stream processors, for `scoring_throughput.py` (runs in `.bench/venv`, which has
Quix Streams and Bytewax: their pins conflict with the services' pydantic, so they live apart).

    .bench/venv/bin/python bench/scoring_peers.py {quix-rocksdb|quix-memory|bytewax} BOOTSTRAP TOPIC N OUT_TOPIC

The job is the service's: per lead, keep every engagement event and the merged profile as state,
rescore the lead with the same pure rules (`baton_scoring.rules`, imported from the work tree) and
the same definitions, find its next review time, and publish the scorecard as JSON. State lives in
the processor's store as plain JSON (that is what a durable store persists), so each event rebuilds
the lead's classified events from it. Prints one JSON line: records, seconds from
the first record to the last, peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "schemas"), str(ROOT / "services" / "scoring")]

from baton_contracts.definitions import EXAMPLE_PATH, load_definitions  # noqa: E402
from baton_scoring.rules import Activity, classify, scorecard  # noqa: E402

DEFINITIONS = load_definitions(EXAMPLE_PATH)
SCORING = DEFINITIONS.definitions.scoring


def apply(state: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
    """Fold one CloudEvent into the lead's state and return the lead's new scorecard."""
    data = envelope["data"]
    if envelope["type"] == "baton.profile.updated":
        state["profile"].update({k: v for k, v in data.items() if v is not None and k not in ("lead_id", "source")})
    else:
        state["events"][envelope["id"]] = [data["activity"], data["occurred_at"], data.get("properties") or {}]
        if data.get("email"):
            state["profile"].setdefault("email", data["email"])
    activities = [
        Activity(event_id, activity, datetime.fromisoformat(at), properties)
        for event_id, (activity, at, properties) in state["events"].items()
    ]
    now = datetime.now(UTC)
    classified = classify(activities, SCORING.engagement)
    card = scorecard(state["profile"], classified, SCORING, now=now)
    review = card.review_at
    return {
        "lead_id": data["lead_id"],
        "score": card.score,
        "grade": card.grade,
        "demand_state": card.engagement.demand_state,
        "high_intent": card.engagement.high_intent,
        "contributions": [c.as_dict() for c in card.contributions],
        "review_at": review.isoformat() if review else None,
        "definitions_version": DEFINITIONS.version,
    }


class Progress:
    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.count = 0
        self.first: float | None = None
        self.first_cpu = 0.0
        self.last = 0.0

    def tick(self) -> bool:
        now = time.perf_counter()
        if self.first is None:
            self.first, self.first_cpu = now, time.process_time()
        self.count += 1
        self.last = now
        return self.count >= self.expect

    def report(self, name: str) -> None:
        seconds = self.last - (self.first or self.last)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu_us = round((time.process_time() - self.first_cpu) / max(self.count, 1) * 1e6, 1)  # every thread's
        print(
            json.dumps(
                {
                    "contender": name,
                    "records": self.count,
                    "seconds": seconds,
                    "peak_rss_mb": rss_mb,
                    "cpu_us_per_event": cpu_us,
                }
            )
        )


def run_quix(bootstrap: str, topic: str, expect: int, out_topic: str, *, memory: bool) -> None:
    import tempfile
    import uuid

    from quixstreams import Application
    from quixstreams.models.topics import TopicConfig
    from quixstreams.models.topics.manager import TopicManager
    from quixstreams.state.memory import MemoryStore

    # The embedded broker (Tansu) reports no topic configs; Quix derives its state config from them.
    derive = TopicManager.derive_topic_config

    def derive_or_default(topics: Any) -> Any:
        try:
            return derive(topics)
        except KeyError:
            return TopicConfig(num_partitions=3, replication_factor=1)

    TopicManager.derive_topic_config = staticmethod(derive_or_default)  # type: ignore[method-assign,assignment]

    progress = Progress(expect)
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"bench-quix-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="quix-state-"),
        use_changelog_topics=False,  # like ours: state durable locally (RocksDB) or not at all (memory)
        loglevel="WARNING",
        auto_create_topics=True,
    )
    source = app.topic(topic, value_deserializer="json", key_deserializer="str")
    sink = app.topic(out_topic, value_serializer="json", key_serializer="str")
    sdf = app.dataframe(source)
    if memory:
        sdf.register_store(store_type=MemoryStore)

    def score(envelope: dict[str, Any], state: Any) -> dict[str, Any]:
        lead = state.get("lead") or {"profile": {}, "events": {}}
        card = apply(lead, envelope)
        state.set("lead", lead)
        return card

    def done(_value: Any) -> None:
        if progress.tick():
            app.stop()

    sdf = sdf.apply(score, stateful=True)
    sdf = sdf.to_topic(sink)
    sdf = sdf.update(done)
    app.run()
    progress.report("quix-memory" if memory else "quix-rocksdb")


def run_bytewax(bootstrap: str, topic: str, expect: int, out_topic: str) -> None:
    import bytewax.operators as op
    from bytewax.connectors.kafka import KafkaSinkMessage
    from bytewax.connectors.kafka import operators as kop
    from bytewax.dataflow import Dataflow
    from bytewax.testing import run_main

    progress = Progress(expect)

    class Stop(Exception):
        pass

    flow = Dataflow("scoring")
    consumed = kop.input(
        "in",
        flow,
        brokers=[bootstrap],
        topics=[topic],
        add_config={"group.id": f"bench-bytewax-{uuid.uuid4().hex[:8]}"},
        batch_size=500,
    )
    keyed = op.map("key", consumed.oks, lambda m: (m.key.decode(), json.loads(m.value)))

    def score(state: dict[str, Any] | None, envelope: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        state = state or {"profile": {}, "events": {}}
        return state, apply(state, envelope)

    scored = op.stateful_map("score", keyed, score)

    def to_message(item: tuple[str, dict[str, Any]]) -> KafkaSinkMessage[bytes, bytes]:
        key, card = item
        return KafkaSinkMessage(key.encode(), json.dumps(card).encode())

    messages = op.map("encode", scored, to_message)

    def count(message: Any) -> Any:
        if progress.tick():
            raise Stop
        return message

    kop.output("out", op.map("count", messages, count), brokers=[bootstrap], topic=out_topic)
    try:
        run_main(flow)
    except Exception:  # our Stop surfaces wrapped in the runtime's error
        if progress.count < expect:
            raise
    progress.report("bytewax")


def main() -> None:
    contender, bootstrap, topic, expect, out_topic = sys.argv[1:6]
    if contender in ("quix-rocksdb", "quix-memory"):
        run_quix(bootstrap, topic, int(expect), out_topic, memory=contender == "quix-memory")
    elif contender == "bytewax":
        run_bytewax(bootstrap, topic, int(expect), out_topic)
    else:
        raise SystemExit(f"unknown contender {contender!r}")


if __name__ == "__main__":
    main()
