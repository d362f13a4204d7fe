"""Datasets with real download code and checksum verification (see files.py)."""
