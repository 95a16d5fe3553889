"""Energy, latency and capacity: the events producers report, the energy model (pure functions
of a config), the meter, GPU baselines, reports, the capacity plan and the system planner."""
from . import baselines, events, model, report
from .meter import Meter, meter
from .model import peak
from .capacity import capacity_plan
from .system import plan, sweep

__all__ = ["baselines", "events", "model", "report", "Meter", "meter", "peak", "plan", "sweep",
           "capacity_plan"]
