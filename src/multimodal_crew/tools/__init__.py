"""CrewAI tools: thin wrappers over the packages of this project."""

from .report_query import ReportQueryTool
from .vision_ask import VisionAskTool

__all__ = ["ReportQueryTool", "VisionAskTool"]
