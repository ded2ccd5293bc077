"""Orchestration of each command: sources in, a ``Report`` out. No printing here."""
