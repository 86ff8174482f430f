"""Results, follow-ups and publication (一公开) API."""
