"""Errors the command line reports in one line (no traceback)."""

__all__ = ["ToolError"]


class ToolError(RuntimeError):
    """An external tool is missing or failed; the message says which and what to do."""
