"""Observability shared by every part: Prometheus metrics (run events and reports follow)."""

from cassflow.observe._metrics import CopyMetrics, SinkMetrics

__all__ = ["CopyMetrics", "SinkMetrics"]
