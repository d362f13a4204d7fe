"""Models: Input, Model (subclassed), Functional, Sequential."""
from frontend.models.input_layer import Input, InputLayer
from frontend.models.model import Model
from frontend.models.functional import Functional
from frontend.models.sequential import Sequential

__all__ = ["Input", "InputLayer", "Model", "Functional", "Sequential"]
