"""Nodus web application: the only package that imports Django."""
