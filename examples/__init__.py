"""Bundled example workspaces (data only)."""
