"""User accounts API (system administrator)."""
