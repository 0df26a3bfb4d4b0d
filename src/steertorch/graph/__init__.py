"""Graphs of point clouds: scatter reductions, radius / k-nearest-neighbour graphs, batches, edge embeddings.

>>> import torch
>>> from steertorch.graph import radius_graph, scatter_sum
>>> pos = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [2.0, 0.0, 0.0]])
>>> edge_src, edge_dst = radius_graph(pos, r=1.0)
>>> scatter_sum(torch.ones(edge_src.shape[0]), edge_dst, dim_size=3)  # number of neighbours
tensor([1., 1., 0.])
"""

from ._batch import Graph
from ._chunked import chunked_message_sum
from ._edge_embedding import RadialEmbedding, edge_lengths, edge_vectors, spherical_edge_attributes
from ._egnn import EGNNLayer
from ._escnn_point_conv import R2PointConv, R3PointConv
from ._field_point_conv import FieldPointConv
from ._knn import knn_graph
from ._point_conv import PointConv, TFNLayer, gate_irreps
from ._pyg import from_pyg, to_pyg
from ._radius import radius, radius_graph
from ._scatter import scatter_max, scatter_mean, scatter_softmax, scatter_sum
from ._segnn import (
    O3TensorProduct,
    O3TensorProductGate,
    SEGNNLayer,
    balanced_irreps,
    segnn_attributes,
    segnn_node_attributes,
    weight_balanced_irreps,
)

__all__ = [
    "R2PointConv",
    "R3PointConv",
    "scatter_sum",
    "chunked_message_sum",
    "scatter_mean",
    "scatter_max",
    "scatter_softmax",
    "radius",
    "radius_graph",
    "knn_graph",
    "Graph",
    "from_pyg",
    "to_pyg",
    "edge_vectors",
    "edge_lengths",
    "spherical_edge_attributes",
    "RadialEmbedding",
    "PointConv",
    "TFNLayer",
    "gate_irreps",
    "O3TensorProduct",
    "O3TensorProductGate",
    "SEGNNLayer",
    "balanced_irreps",
    "weight_balanced_irreps",
    "segnn_attributes",
    "segnn_node_attributes",
    "EGNNLayer",
    "FieldPointConv",
]
