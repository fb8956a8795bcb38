"""The smoke suite's checks, as pytest tests (`make smoke`, `pytest tools/smoke/suite`)."""
