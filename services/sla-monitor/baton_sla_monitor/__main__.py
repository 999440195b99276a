from baton_kit.logging import configure_logging
from baton_kit.runtime import serve
from baton_kit.settings import load_settings
from baton_sla_monitor.app import create_app
from baton_sla_monitor.settings import SlaMonitorSettings


def main() -> None:
    settings = load_settings(SlaMonitorSettings)
    configure_logging(level=settings.log_level, json=settings.log_json)
    serve(create_app(settings), host=settings.http_host, port=settings.http_port)


if __name__ == "__main__":
    main()
