"""CrewAI tools: thin wrappers over the packages of this project."""

from .report_query import ReportQueryTool

__all__ = ["ReportQueryTool"]
