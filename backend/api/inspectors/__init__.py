"""Inspectors (执法检查人员名录库) API."""
