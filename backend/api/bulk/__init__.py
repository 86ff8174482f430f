"""Bulk import and export API (files up to a few MB; larger files go through the CLI)."""
