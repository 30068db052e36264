"""Helpers shared by unit and integration tests (no test lives here)."""
