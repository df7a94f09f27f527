"""The web pages through a real `maildesk serve`: tests/e2e's `served` fixture, reused as is."""

from tests.e2e.conftest import Served, served  # noqa: F401
