from baton_kit.migrations import run_env
from baton_scoring.models import Base

run_env(Base.metadata)
