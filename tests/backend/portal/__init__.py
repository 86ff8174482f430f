"""Tests of the public portal and reports."""
