"""Departments (部门) API."""
