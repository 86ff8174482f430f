"""Statistics and reports API."""
