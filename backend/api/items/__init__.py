"""Check items (抽查事项清单) API."""
