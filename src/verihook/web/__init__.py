"""The dashboard (customer portal): server-rendered pages over the same service the API calls."""

from verihook.web.app import create_dashboard

__all__ = ["create_dashboard"]
