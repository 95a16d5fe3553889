"""The meter report's JSON schema: where the schema file lives and the version a report carries.

Kept apart from the meter so that the report renderer (:mod:`torch_photonic.energy.report`)
can find the schema without importing the meter.
"""
import os

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION"]

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "data", "meter_schema.json")
SCHEMA_VERSION = 1
