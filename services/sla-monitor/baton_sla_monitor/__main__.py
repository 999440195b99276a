from baton_kit.runtime import run_service
from baton_sla_monitor.app import create_app
from baton_sla_monitor.settings import SlaMonitorSettings


def main() -> None:
    run_service(SlaMonitorSettings, create_app)


if __name__ == "__main__":
    main()
