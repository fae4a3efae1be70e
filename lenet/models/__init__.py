"""LeNet-5 itself: the variants' registry, the building blocks, the 1998 pieces, the summary."""

from lenet.models.architecture import OPTIONS, Architecture
from lenet.models.blocks import (
    ConvAct,
    ConvTanh,
    LinearAct,
    SubsampleAvgPool,
    init_tanh_xavier,
)
from lenet.models.lenet5 import (
    INITS,
    LAYERS,
    VARIANTS,
    LeNet5,
    Variant,
    architecture_of,
    build_model,
    get_variant,
    normalization_of,
    register_variant,
    variant_name,
)
from lenet.models.summary import count_connections, count_parameters, layer_table, summary

__all__ = [
    "ConvAct",
    "ConvTanh",
    "LinearAct",
    "SubsampleAvgPool",
    "init_tanh_xavier",
    "INITS",
    "LAYERS",
    "VARIANTS",
    "LeNet5",
    "Variant",
    "build_model",
    "get_variant",
    "normalization_of",
    "register_variant",
    "variant_name",
    "architecture_of",
    "Architecture",
    "OPTIONS",
    "count_connections",
    "count_parameters",
    "layer_table",
    "summary",
]
