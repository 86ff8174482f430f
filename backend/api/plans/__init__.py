"""Plans API."""
