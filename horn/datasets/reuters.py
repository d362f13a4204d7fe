"""``keras.datasets.reuters``."""
from frontend.datasets.text_datasets import load_reuters as load_data  # noqa: F401
from frontend.datasets.text_datasets import reuters_label_names as get_label_names  # noqa: F401
from frontend.datasets.text_datasets import reuters_word_index as get_word_index  # noqa: F401
