"""Enterprises (检查对象名录库) API."""
