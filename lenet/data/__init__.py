"""The digits LeNet-5 reads: MNIST's verified files and in-memory splits (``mnist``), and
drawn or uploaded digits made to look like MNIST's (``digits``), and the class's own labelled
drawings (``class_digits``)."""

from lenet.data.class_digits import MAX_PER_STUDENT, ClassDigit, ClassDigits, ClassDigitsFull
from lenet.data.digits import (
    UPLOAD_EXTENSIONS,
    UPLOAD_FORMAT_WORDS,
    UPLOAD_FORMATS,
    Preprocessed,
    load_image_bytes,
    perturb,
    preprocess_digit,
)
from lenet.data.mnist import (
    DEFAULT_SOURCES,
    MNIST_FILES,
    NORMALIZATIONS,
    MnistSource,
    MnistUnavailable,
    Split,
    create_data,
    data_dir,
    denormalize,
    ensure_mnist,
    load_split,
    normalize,
    to_model_input,
)

__all__ = [
    "MAX_PER_STUDENT",
    "ClassDigit",
    "ClassDigits",
    "ClassDigitsFull",
    "UPLOAD_EXTENSIONS",
    "UPLOAD_FORMAT_WORDS",
    "UPLOAD_FORMATS",
    "Preprocessed",
    "load_image_bytes",
    "perturb",
    "preprocess_digit",
    "DEFAULT_SOURCES",
    "MNIST_FILES",
    "NORMALIZATIONS",
    "MnistSource",
    "MnistUnavailable",
    "Split",
    "create_data",
    "data_dir",
    "denormalize",
    "ensure_mnist",
    "load_split",
    "normalize",
    "to_model_input",
]
