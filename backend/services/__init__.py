"""Business rules; keyword-only functions that take a session and commit."""
