"""Observability shared by every part: Prometheus metrics (run events and reports follow)."""

from cassflow.observe._forward import SinkEventRecorder, SinkObserver, replay
from cassflow.observe._metrics import CopyMetrics, SinkMetrics

__all__ = ["CopyMetrics", "SinkEventRecorder", "SinkMetrics", "SinkObserver", "replay"]
