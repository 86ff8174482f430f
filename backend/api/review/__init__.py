"""Supervisor review (审核) API."""
