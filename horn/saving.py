"""``keras.saving``: save / load models and weights in Keras 3's formats."""
from frontend.saving import (CustomObjectScope, custom_object_scope, deserialize_keras_object,
                             get_custom_objects, get_registered_name, get_registered_object, load_model,
                             load_weights, register_keras_serializable, save_model, save_weights,
                             serialize_keras_object)

__all__ = ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "load_model", "load_weights",
           "register_keras_serializable", "save_model", "save_weights", "serialize_keras_object"]
