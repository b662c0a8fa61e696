"""Helpers shared by the reliability tests (not collected as tests)."""
