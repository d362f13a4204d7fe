"""``keras.datasets.imdb``."""
from frontend.datasets.text_datasets import imdb_word_index as get_word_index  # noqa: F401
from frontend.datasets.text_datasets import load_imdb as load_data  # noqa: F401
