from baton_kit.migrations import run_env
from baton_sla_monitor.models import Base

run_env(Base.metadata)
