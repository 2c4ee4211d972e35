"""Routing rules: which office is competent for a procedure, where and by which channel."""
