"""The dns area."""
