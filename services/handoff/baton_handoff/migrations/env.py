from baton_handoff.models import Base
from baton_kit.migrations import run_env

run_env(Base.metadata)
