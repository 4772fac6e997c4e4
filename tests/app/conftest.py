"""Fixtures for the app tests (defined in helpers.appenv)."""

from helpers.appenv import app_env

__all__ = ["app_env"]
