"""Seed scenarios (``tthc seed NAME``)."""
