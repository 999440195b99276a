-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d).
-- Each service owns its own database; no service reads another's tables.
CREATE DATABASE baton_handoff OWNER baton;
CREATE DATABASE baton_scoring OWNER baton;
CREATE DATABASE baton_sla_monitor OWNER baton;
