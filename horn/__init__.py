"""Horn: an ahead-of-time compiler for Keras models.

``import horn as keras`` gives the Keras 3 API: layers, models, ops,
activations, initializers. Models called on arrays run as native code that
Horn generated through LLVM.
"""
from frontend import backend
from frontend.layer import Layer
from frontend.variables import Variable
from frontend.input_spec import InputSpec
from frontend.models import Functional, Input, InputLayer, Model, Sequential
from horn import activations, datasets, initializers, layers, models, ops
from horn import callbacks, utils
from horn import losses, metrics
from horn import saving
from horn import optimizers
from horn import regularizers, random

__version__ = "0.1.0"

__all__ = ["backend", "Layer", "Variable", "InputSpec", "Functional", "Input", "InputLayer", "Model",
           "Sequential", "activations", "datasets", "initializers", "layers", "models", "ops", "__version__"]
__all__ += ["callbacks", "utils"]
__all__ += ["losses", "metrics"]
__all__ += ["saving"]
__all__ += ["optimizers"]
