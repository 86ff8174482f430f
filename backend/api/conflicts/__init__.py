"""回避 (conflict-of-interest) records API."""
