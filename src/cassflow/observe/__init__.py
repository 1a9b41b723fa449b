"""Observability shared by every part: Prometheus metrics (run events and reports follow)."""

from cassflow.observe._metrics import CopyMetrics

__all__ = ["CopyMetrics"]
