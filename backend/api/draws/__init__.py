"""Draws API."""
