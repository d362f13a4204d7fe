"""Callbacks with Keras 3's names, arguments, hooks and log keys (``keras.callbacks``)."""
from frontend.callbacks.backup_and_restore import BackupAndRestore
from frontend.callbacks.callback import Callback
from frontend.callbacks.callback_list import CallbackList
from frontend.callbacks.csv_logger import CSVLogger
from frontend.callbacks.early_stopping import EarlyStopping
from frontend.callbacks.history import History
from frontend.callbacks.lambda_callback import LambdaCallback
from frontend.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from frontend.callbacks.model_checkpoint import ModelCheckpoint
from frontend.callbacks.monitor import MonitorCallback
from frontend.callbacks.progbar_logger import ProgbarLogger
from frontend.callbacks.tensorboard import TensorBoard
from frontend.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = ["BackupAndRestore", "Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback",
           "ProgbarLogger", "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN"]
