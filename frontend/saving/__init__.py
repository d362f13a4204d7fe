"""Saving and loading in Keras 3's own formats (``keras.saving``).

* ``.keras``: a zip of ``config.json``, ``metadata.json`` and
  ``model.weights.h5`` (:mod:`.keras_archive`), config in Keras 3's
  serialization format (:mod:`.serialization`, :mod:`.model_config`) and
  weights in its layout (:mod:`.weights`);
* ``.weights.h5``: that weights layout alone;
* legacy HDF5 for any other ``.h5`` (:mod:`.legacy_h5`).

Files Horn writes load in real Keras and the reverse; writes are atomic
(:mod:`.atomic`); custom classes round-trip through registration
(:mod:`.object_registration`) or ``custom_objects=``.
"""
from frontend.saving.api import load_model, load_weights, save_model, save_weights
from frontend.saving.object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects,
                                                 get_registered_name, get_registered_object,
                                                 register_keras_serializable)
from frontend.saving.serialization import deserialize_keras_object, serialize_keras_object

__all__ = ["load_model", "save_model", "save_weights", "load_weights", "register_keras_serializable",
           "get_custom_objects", "custom_object_scope", "CustomObjectScope", "get_registered_name",
           "get_registered_object", "serialize_keras_object", "deserialize_keras_object"]
