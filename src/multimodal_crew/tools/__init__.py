"""CrewAI tools: thin wrappers over the packages of this project."""

from .knowledge_search import KnowledgeSearchTool
from .report_query import ReportQueryTool
from .vision_ask import VisionAskTool

__all__ = ["KnowledgeSearchTool", "ReportQueryTool", "VisionAskTool"]
