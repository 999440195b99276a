"""Run all of Baton on this machine with one command, and replay the sample funnel.

    python deploy/run_embedded.py              # broker + 3 services + demo, then wait for Ctrl-C
    python deploy/run_embedded.py --once       # ... run the demo and exit (tests, CI)
    python deploy/run_embedded.py --no-demo    # just the services

Without KAFKA_BOOTSTRAP_SERVERS it starts the embedded Kafka-protocol broker (in memory) and creates
every topic. Each service runs as a child process (`python -m baton_<service>`) on loopback with its
own SQLite file and log in data/. A stand-in CRM on a free loopback port receives the handoff's
signed assignment webhooks (unless CRM_WEBHOOK_URL is set) and checks each signature. Everything it
started is stopped on Ctrl-C or SIGTERM. It exits non-zero if a service does not become ready, dies,
or the demo fails.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import importlib.util
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from baton_contracts.topics import ALL_TOPICS
from baton_kit.broker import EmbeddedBroker, create_topics
from baton_kit.processes import ServiceNotReady, ServiceProcess
from baton_kit.webhooks import standard_webhooks_signature

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # ServiceProcess binds services to loopback: the embedded setup has no authentication
READY_TIMEOUT = 60.0
STOP_GRACE = 30.0  # services drain and commit on SIGTERM; uvicorn alone may take 20 s for open requests
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # also names its SQLite file and log in data/
    module: str
    default_port: int


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("handoff", "baton_handoff", 8000),
    ServiceSpec("scoring", "baton_scoring", 8001),
    ServiceSpec("sla-monitor", "baton_sla_monitor", 8002),
)


class RunnerError(RuntimeError):
    """Something the user must fix or look at; the message says what."""


class Stopped(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM/SIGHUP. Like KeyboardInterrupt, it is
    not an Exception, so no `except Exception` on the way swallows it."""


# --------------------------------------------------------------------------------------------
# checks before starting anything


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is fine
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def check_ports(ports: dict[str, int]) -> None:
    if len(set(ports.values())) != len(ports):
        raise RunnerError(f"each service needs its own port, got {ports}")
    busy = [f"{name} port {port}" for name, port in ports.items() if not port_is_free(port)]
    if busy:
        raise RunnerError(
            f"{', '.join(busy)} already in use on {HOST} (is Baton already running? `ss -ltnp` shows who). "
            "Stop it, or choose other ports with --handoff-port, --scoring-port, --sla-monitor-port."
        )


def check_installed(specs: Sequence[ServiceSpec]) -> None:
    """Each module has a `__main__` (a top-level `find_spec` imports nothing)."""
    missing = []
    for spec in specs:
        found = importlib.util.find_spec(spec.module)
        locations = (found.submodule_search_locations or []) if found is not None else []
        if not any((Path(location) / "__main__.py").is_file() for location in locations):
            missing.append(spec.module)
    if missing:
        raise RunnerError(f"cannot run {', '.join(missing)}: not installed in {sys.executable} (run `make demo`)")


# --------------------------------------------------------------------------------------------
# broker and services


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def stop_services(services: Sequence[ServiceProcess], *, grace: float = STOP_GRACE) -> None:
    """SIGTERM them all at once (each drains and commits), then wait; SIGKILL any still running after `grace`."""
    for service in services:
        service.signal_stop()
    deadline = time.monotonic() + grace
    for service in services:
        was_running = service.running
        if service.terminate(timeout=max(0.1, deadline - time.monotonic())) == -signal.SIGKILL and was_running:
            print(f"  {service.name} did not stop within {grace:.0f}s and was killed", file=sys.stderr, flush=True)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# the demo runs in a thread, so the main thread keeps watching the services and the signals


def load_demo() -> ModuleType:
    """deploy/ is not a package: demo.py is loaded by path."""
    path = Path(__file__).resolve().parent / "demo.py"
    spec = importlib.util.spec_from_file_location("baton_demo", path)
    if spec is None or spec.loader is None:
        raise RunnerError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


class DemoThread(threading.Thread):
    def __init__(self, *, handoff_url: str, sla_url: str, leads: int, weeks: int, api_key: str | None = None) -> None:
        super().__init__(name="demo", daemon=True)
        self.handoff_url, self.sla_url, self.leads, self.weeks = handoff_url, sla_url, leads, weeks
        self.api_key = api_key
        self.error: str | None = None

    def run(self) -> None:
        try:
            demo = load_demo()
            events = demo.generate_sample(leads=self.leads, weeks=self.weeks)
            report = demo.replay(demo.BaseUrls(self.handoff_url, self.sla_url), events, api_key=self.api_key)
            if report.problems:
                self.error = "the demo found problems: " + "; ".join(report.problems)
        except Exception as error:  # reported by the main thread
            self.error = f"the demo failed: {type(error).__name__}: {error}"


# --------------------------------------------------------------------------------------------
# the stand-in CRM


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections when the handoff opens several at once.
    request_queue_size = 128


class CrmReceiver:
    """What a CRM integration does with the handoff's webhook, in miniature: a loopback HTTP server
    that checks each delivery's Standard Webhooks signature (401 when it does not verify, which the
    handoff retries) and answers 204. The demo reads the outcome back from the handoff's API."""

    def __init__(self) -> None:
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                expected = standard_webhooks_signature(
                    secret=receiver.secret,
                    msg_id=self.headers.get("webhook-id", ""),
                    timestamp=self.headers.get("webhook-timestamp", ""),
                    body=body,
                )
                offered = self.headers.get("webhook-signature", "").split()
                valid = any(hmac.compare_digest(expected, entry) for entry in offered)
                self.send_response(204 if valid else 401)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server((HOST, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="crm-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/baton"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------------------------
# main


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    for sig in SIGNALS:
        signal.signal(sig, _while_stopping)
    raise Stopped(signal.Signals(signum).name)


def _while_stopping(signum: int, _frame: FrameType | None) -> None:
    print(f"\n  ({signal.Signals(signum).name}: already stopping, please wait)", file=sys.stderr, flush=True)


def print_urls(services: Sequence[ServiceProcess], *, bootstrap_servers: str, data_dir: Path) -> None:
    print("\nBaton is running")
    for service in services:
        print(
            f"  {service.name:<12} API docs {service.url}/docs   metrics {service.url}/metrics   "
            f"log {_rel(service.log_path)}"
        )
    urls = {service.name: service.url for service in services}
    if "handoff" in urls:
        print(f"  leads        {urls['handoff']}/v1/leads?state=assigned")
    if "sla-monitor" in urls:
        print(f"  SLA clocks   {urls['sla-monitor']}/v1/clocks/summary")
    print(f"  Kafka        {bootstrap_servers}   data {_rel(data_dir)}/", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run Baton locally: embedded broker, three services, sample demo.")
    parser.add_argument("--once", action="store_true", help="run the demo (or just start, with --no-demo) and exit")
    parser.add_argument("--no-demo", action="store_true", help="do not replay the sample funnel")
    parser.add_argument("--keep-data", action="store_true", help="keep the SQLite files (and logs) of the last run")
    parser.add_argument("--verbose", action="store_true", help="services log at INFO (default WARNING)")
    parser.add_argument("--leads", type=int, default=300, help="leads in the sample (default 300)")
    parser.add_argument("--weeks", type=int, default=3, help="weeks the sample covers (default 3)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data", help="default: data/ in the repository")
    parser.add_argument("--definitions", help="definitions YAML (DEFINITIONS_PATH); the packaged example if unset")
    parser.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT, help="seconds (default 60)")
    parser.add_argument(
        "--only",
        action="append",
        choices=[s.name for s in SERVICES],
        help="run only this service (repeatable; for development, with --no-demo)",
    )
    for spec in SERVICES:
        parser.add_argument(f"--{spec.name}-port", type=int, default=spec.default_port, help=f"{spec.default_port}")
    args = parser.parse_args(argv)
    if args.only and len(set(args.only)) < len(SERVICES) and not args.no_demo:
        parser.error("the demo needs all three services: add --no-demo when using --only")
    if args.leads < 1 or args.weeks < 1:
        parser.error("--leads and --weeks must be at least 1")
    return args


def run(args: argparse.Namespace) -> int:
    specs = [s for s in SERVICES if not args.only or s.name in args.only]
    ports = {s.name: int(getattr(args, f"{s.name.replace('-', '_')}_port")) for s in specs}
    data_dir: Path = args.data_dir.resolve()
    check_installed(specs)
    check_ports(ports)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not args.keep_data:
        for spec in specs:
            for path in [*data_dir.glob(f"{spec.name}.db*"), data_dir / f"{spec.name}.log"]:  # -wal, -shm, locks
                path.unlink(missing_ok=True)

    broker: EmbeddedBroker | None = None
    crm: CrmReceiver | None = None
    services: list[ServiceProcess] = []
    started = time.monotonic()
    try:
        bootstrap_servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if bootstrap_servers:
            print(f"Using Kafka at {bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS); its topics must exist", flush=True)
        else:
            broker_log = data_dir / "broker.log"
            broker_log.unlink(missing_ok=True)
            broker = EmbeddedBroker(log_path=broker_log)
            try:
                bootstrap_servers = broker.start()
                create_topics(bootstrap_servers, ALL_TOPICS, partitions=3)
            except Exception as error:
                raise RunnerError(f"the embedded broker did not start: {error} (log: {_rel(broker_log)})") from error
            print(f"Embedded broker on {bootstrap_servers}, {len(ALL_TOPICS)} topics, in memory", flush=True)

        # The handoff API needs a key: ADMIN_API_KEY if set, else a fresh one for this run (printed below).
        admin_key = os.environ.get("ADMIN_API_KEY") or f"bk_demo_{secrets.token_urlsafe(24)}"
        if not os.environ.get("CRM_WEBHOOK_URL"):
            crm = CrmReceiver()
            crm.start()
            print(f"Stand-in CRM on {crm.url} (receives the signed assignment webhooks)", flush=True)
        print(f"Starting {', '.join(s.name for s in specs)} (SQLite files and logs in {_rel(data_dir)}/)", flush=True)
        for spec in specs:
            env = {
                "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / f'{spec.name}.db'}",
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
                "LOG_LEVEL": "INFO" if args.verbose else "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
            if args.definitions:
                env["DEFINITIONS_PATH"] = str(Path(args.definitions).resolve())
            if spec.name == "handoff":
                env["ADMIN_API_KEY"] = admin_key
                if crm is not None:
                    env["CRM_WEBHOOK_URL"], env["CRM_WEBHOOK_SECRET"] = crm.url, crm.secret
            log_path = data_dir / f"{spec.name}.log"
            services.append(
                ServiceProcess(name=spec.name, module=spec.module, port=ports[spec.name], env=env, log_path=log_path)
            )
            services[-1].start()
        for service in services:
            try:
                service.wait_ready(timeout=args.ready_timeout)
            except ServiceNotReady as error:
                raise RunnerError(f"{error}\n(full log: {_rel(service.log_path)})") from None
            print(f"  {service.name:<12} ready on {service.url}", flush=True)
        print(f"All services ready in {time.monotonic() - started:.1f}s", flush=True)
        print(f"Handoff admin API key (Authorization: Bearer …): {admin_key}\n", flush=True)

        demo: DemoThread | None = None
        if not args.no_demo:
            urls = {service.name: service.url for service in services}
            demo = DemoThread(
                handoff_url=urls["handoff"],
                sla_url=urls["sla-monitor"],
                leads=args.leads,
                weeks=args.weeks,
                api_key=admin_key,
            )
            demo.start()
        announced = False
        while True:
            dead = next((service for service in services if not service.running), None)
            if dead is not None:
                raise RunnerError(
                    f"{dead.name} {describe_exit(dead.returncode)} unexpectedly. Last lines of "
                    f"{_rel(dead.log_path)}:\n{dead.log_tail() or '(empty)'}"
                )
            if demo is not None and not demo.is_alive():
                if demo.error:
                    raise RunnerError(demo.error)
                demo = None
            if demo is None and not announced:
                print_urls(services, bootstrap_servers=bootstrap_servers, data_dir=data_dir)
                if args.once:
                    return 0
                print("\nPress Ctrl-C to stop.", flush=True)
                announced = True
            time.sleep(0.25)
    except Stopped as stop:
        print(f"\n{stop.args[0]}: stopping ...", flush=True)
        return 1 if args.once else 0  # --once was interrupted before it finished
    except RunnerError as error:
        print(f"\nrun_embedded: {error}\n", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig in SIGNALS:
            signal.signal(sig, _while_stopping)  # from here on, a signal must not interrupt the clean-up
        stop_services(services)
        if crm is not None:
            crm.stop()
        if broker is not None:
            broker.stop()
        if services or broker is not None:
            print("Stopped everything this runner started.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    previous: dict[signal.Signals, Any] = {sig: signal.signal(sig, _on_signal) for sig in SIGNALS}
    try:
        return run(args)
    except RunnerError as error:  # before anything was started
        print(f"run_embedded: {error}", file=sys.stderr, flush=True)
        return 1
    except Stopped:  # before anything was started
        return 1 if args.once else 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
