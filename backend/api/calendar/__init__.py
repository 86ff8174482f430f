"""Working-day calendar overrides API."""
