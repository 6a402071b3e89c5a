"""Exporters (ONNX)."""
