"""Baton SLA monitor: consumes `lead.lifecycle`, runs SLA clocks, emits `sla.events`."""

SERVICE = "sla-monitor"
