"""The embedded CQL dev server."""
