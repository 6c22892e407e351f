"""``vision_ask``: ask a question about an image (the ``see`` flow as a CrewAI tool)."""

from __future__ import annotations

from crewai.tools import BaseTool
from pydantic import BaseModel, Field

from ..errors import MMCrewError

__all__ = ["VisionAskTool"]


class VisionAskArgs(BaseModel):
    image_path: str = Field(..., description="path of the image file")
    question: str = Field(..., description="the question about the image")


class VisionAskTool(BaseTool):
    name: str = "vision_ask"
    description: str = "Answer a question about an image file (chart, table, receipt, sign, form, diagram)."
    args_schema: type[BaseModel] = VisionAskArgs

    def _run(self, image_path: str, question: str) -> str:
        from ..flows.see import SeeFlow

        try:
            r = SeeFlow().kickoff(inputs={"image": image_path, "question": question})
        except MMCrewError as e:  # the agent's to fix (wrong path, unreadable image)
            return f"Error: {e}"
        return f"Answer: {r.answer}\nRationale: {r.rationale}"
