"""Posed vs spontaneous recognition from onset/apex pairs.

- :mod:`~affectlab.pairs.manifest`: CSV manifests ``onset,apex,label,subject``;
- :mod:`~affectlab.pairs.transforms`: transforms applied identically to both images;
- :mod:`~affectlab.pairs.proxy`: the seeded proxy benchmark generated from real faces;
- :mod:`~affectlab.pairs.networks`: DiffCNN and CompCNN (Sub / Comb comparison at depth 1, 2, 3);
- :mod:`~affectlab.pairs.train`: training, prediction and second-FC features;
- :mod:`~affectlab.experiments.pairs`: the ``kind: pairs`` experiment runner.
"""

from affectlab.pairs.manifest import (
    PAIR_COLUMNS,
    PairRecord,
    load_pair_images,
    read_pair_manifest,
    write_pair_manifest,
)
from affectlab.pairs.networks import (
    PAIR_MODELS,
    ComparisonLayer,
    CompCNN,
    DiffCNN,
    PairNet,
    build_pair_network,
)
from affectlab.pairs.proxy import (
    PAIR_CLASSES,
    Bump,
    ProxyConfig,
    ProxyPairs,
    ckplus_source_faces,
    displacement_field,
    expression_bumps,
    make_proxy_pairs,
    warp_image,
    write_proxy_pairs,
)
from affectlab.pairs.train import fit_pair_network, predict_pairs, second_fc_features
from affectlab.pairs.transforms import augment_pairs, center_crop, stack_pairs

__all__ = [
    "PAIR_CLASSES", "PAIR_COLUMNS", "PAIR_MODELS", "Bump", "CompCNN", "ComparisonLayer", "DiffCNN", "PairNet",
    "PairRecord", "ProxyConfig", "ProxyPairs", "augment_pairs", "build_pair_network", "center_crop",
    "ckplus_source_faces", "displacement_field", "expression_bumps", "fit_pair_network", "load_pair_images",
    "make_proxy_pairs", "predict_pairs", "read_pair_manifest", "second_fc_features", "stack_pairs", "warp_image",
    "write_pair_manifest", "write_proxy_pairs",
]
