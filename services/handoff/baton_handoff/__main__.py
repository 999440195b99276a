from baton_handoff.app import create_app
from baton_handoff.settings import HandoffSettings
from baton_kit.runtime import run_service


def main() -> None:
    run_service(HandoffSettings, create_app)


if __name__ == "__main__":
    main()
