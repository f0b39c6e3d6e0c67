"""Helpers of the micromotion book: every algorithm the notebooks use lives here, once.

Importing this package is cheap: no model is built and torch is imported lazily by the modules
that need it.
"""
__version__ = "0.1.0"
