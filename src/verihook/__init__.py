"""Verihook: webhook delivery for identity-verification platforms."""

__version__ = "0.1.0"
