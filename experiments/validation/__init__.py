"""Validation of the cost models against published measurements."""
