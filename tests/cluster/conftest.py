"""The cluster tests' fixtures and hooks; they and the lab itself live in lab.py (a module of
its own name, so that these tests and tests/system, whose helpers are its conftest, can be
collected by one pytest run)."""
from lab import (lab, net, pytest_runtest_makereport, pytest_terminal_summary,  # noqa: F401
                 scenario)
