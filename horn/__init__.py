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
from horn import onnx
from horn import config

__version__ = "0.1.0"


def compile_library(model, out_dir, **kwargs):
    """Compiles ``model`` ahead of time into ``out_dir/lib<name>.so`` and ``<name>.h`` (a C API).

    Keyword arguments and the returned ``LibraryInfo`` are those of
    ``codegen.library.compile_library``. Imported lazily: LLVM loads only when used.
    """
    from codegen.library import compile_library as compile_
    return compile_(model, out_dir, **kwargs)


def load_library(path, name=None):
    """A library made by ``compile_library``, loaded through ctypes (``runtime.native_library``)."""
    from runtime.native_library import NativeLibrary
    return NativeLibrary(path, name)

__all__ = ["backend", "Layer", "Variable", "InputSpec", "Functional", "Input", "InputLayer", "Model",
           "Sequential", "activations", "datasets", "initializers", "layers", "models", "ops", "__version__"]
__all__ += ["callbacks", "utils"]
__all__ += ["losses", "metrics"]
__all__ += ["saving"]
__all__ += ["optimizers"]
__all__ += ["onnx"]
__all__ += ["compile_library", "load_library"]
