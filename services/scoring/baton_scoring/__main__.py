from baton_kit.runtime import run_service
from baton_scoring.app import create_app
from baton_scoring.settings import ScoringSettings


def main() -> None:
    run_service(ScoringSettings, create_app)


if __name__ == "__main__":
    main()
