"""Energy, latency and capacity: the events producers report, the energy model (pure functions
of a config), the meter, GPU baselines, reports and the planner."""
from . import baselines, events, model, report
from .meter import Meter, meter
from .model import peak
from .plan import plan

__all__ = ["baselines", "events", "model", "report", "Meter", "meter", "peak", "plan"]
