"""Engine contract, sampling parameters and stream events."""

from .events import (
                     ChatMessage,
                     EngineEvent,
                     Event,
                     Finish,
                     FinishReason,
                     RouteDecision,
                     TextDelta,
                     Timings,
                     TokenEvent,
                     ToolCall,
                     ToolCallDelta,
                     TopLogprob,
                     Usage,
)
from .protocol import Capabilities, Engine, ModelInfo, Prompt
from .sampling import SamplingParams

__all__ = [
    "Capabilities", "ChatMessage", "Engine", "EngineEvent", "Event", "Finish", "FinishReason", "ModelInfo", "Prompt",
    "RouteDecision", "SamplingParams", "TextDelta", "Timings", "TokenEvent", "ToolCall", "ToolCallDelta", "TopLogprob",
    "Usage",
]
