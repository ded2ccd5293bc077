"""Renderings of a ``Report``: terminal text, JSON, JUnit XML, a PNG plot."""
