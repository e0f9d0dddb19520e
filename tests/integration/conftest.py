"""Fixtures for integration tests: the private Mosquitto per test is in tests/conftest.py."""
