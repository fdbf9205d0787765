"""Shared contracts: the files every stage reads and writes."""
