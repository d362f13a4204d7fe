"""Recurrent layers: the generic ``RNN(cell)``, SimpleRNN / LSTM / GRU and their cells,
Bidirectional and TimeDistributed. Every recurrence is one ``horn.ops.scan`` loop."""
from frontend.layers.rnn.bidirectional import Bidirectional
from frontend.layers.rnn.gru import GRU, GRUCell
from frontend.layers.rnn.lstm import LSTM, LSTMCell
from frontend.layers.rnn.rnn import RNN
from frontend.layers.rnn.simple_rnn import SimpleRNN, SimpleRNNCell
from frontend.layers.rnn.stacked_rnn_cells import StackedRNNCells
from frontend.layers.rnn.time_distributed import TimeDistributed

__all__ = ["RNN", "SimpleRNN", "SimpleRNNCell", "LSTM", "LSTMCell", "GRU", "GRUCell", "Bidirectional",
           "TimeDistributed", "StackedRNNCells"]
