"""The scale tests use the engine tests' encoded self-cognition rows."""

from tests.unit.engine.conftest import sc_rows  # noqa: F401 (a fixture)
