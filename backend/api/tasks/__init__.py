"""Tasks API."""
