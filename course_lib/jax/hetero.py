"""Link prediction on the heterogeneous knowledge graph in JAX (PyG twin: ``course_lib/pyg/hetero.py``).

The same two models as the PyG chapter, in flax over a :class:`~course_lib.jax.data.HeteroGraph`
(the JAX counterpart of ``HeteroData``): what PyG's ``HeteroConv`` does is written out in
:func:`~course_lib.jax.nn.hetero_conv`.

* per edge type, one convolution: the mean of the source type's features onto the destination
  type, one product with the edge type's sparse adjacency (``graph.adjacency``, built once by
  :func:`~course_lib.jax.data.from_knowledge_graph`), then that edge type's own dense layers
  (:class:`~course_lib.jax.nn.SAGEConv` or :class:`~course_lib.jax.nn.GraphConv`);
* per destination type, the sum of the edge types that end there (:func:`sum_by_destination`,
  ``HeteroConv(..., aggr='sum')``);
* :class:`HeteroSAGE`, chapter 4's :class:`~course_lib.jax.nn.HeteroGraphConv` and the
  dot-product :class:`LinkModel` mirror the PyG classes name for name; :func:`params_from_pyg`
  maps PyG's weights for the parity tests.

Training is full-graph with the same batches as PyG (:func:`course_lib.graph.supervision_batches`);
the graph is an argument of the jitted step, not a constant.

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of chapter 5's encoders on the knowledge graph (each edge type's
cached adjacency); before: the same models propagating edge by edge, a gather and a scatter on
every layer of every step: sage: 882 + 66 ms before, 587 + 30 ms after; graphconv: 960 + 68 ms
before, 684 + 34 ms after.
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import settings
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit, supervision_batches
from ..kg import KnowledgeGraph
from ..metrics import roc_auc
from ..training import Fit, fit_loop, settings_for
from .data import HeteroGraph, from_knowledge_graph
from .nn import (HeteroGraphConv, InputLayer, SAGEConv, bce_loss, flax_path, hetero_conv,
                 params_from_torch)
from .state import TrainState

#: The chapter's hyper-parameters, one dict per encoder (:data:`course_lib.settings.HETERO`,
#: read by the PyG twin too); ``fit(..., model='graphconv')`` picks the other encoder.
SETTINGS = settings.HETERO
OUTPUT_TYPES = ("user", "movie")
EMBEDDING_STD = 0.1  # as the PyG twin: learned embeddings start at N(0, 0.1^2)


class HeteroSAGE(nn.Module):
    """Two heterogeneous SAGE layers, ``hidden`` then ``out_channels`` features,
    ReLU in between; the second layer only computes the user and movie outputs."""

    edge_types: tuple
    hidden: int = 64
    out_channels: int = 32
    relation_aggr: str = "sum"

    @nn.compact
    def __call__(self, x: dict, adjacency: dict) -> dict:
        x = hetero_conv(lambda et: SAGEConv(self.hidden, name=f"conv1_{et[1]}"),
                        x, adjacency, self.edge_types, self.relation_aggr)
        x = {t: nn.relu(h) for t, h in x.items()}
        outputs = [et for et in self.edge_types if et[2] in OUTPUT_TYPES]
        return hetero_conv(
            lambda et: SAGEConv(self.out_channels, name=f"conv2_{et[1]}"),
            x, adjacency, outputs, self.relation_aggr)


ARCHITECTURES = {"sage": HeteroSAGE,
                 "graphconv": partial(HeteroGraphConv, output_types=OUTPUT_TYPES)}


class LinkModel(nn.Module):
    """Input layer, a heterogeneous encoder (``'sage'`` or ``'graphconv'``), dot-product scores.

    ``num_nodes``: nodes per type (every type but movies gets a learned embedding);
    ``num_features``: the width of the movie features."""

    num_nodes: dict
    num_features: int
    edge_types: tuple
    architecture: str = "sage"
    hidden: int = 64
    out_channels: int = 32
    relation_aggr: str = "sum"

    def setup(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, "
                             f"got {self.architecture!r}")
        self.inputs = InputLayer({t: n for t, n in self.num_nodes.items() if t != "movie"},
                                 {"movie": self.num_features}, self.hidden,
                                 embedding_std=EMBEDDING_STD)
        self.gnn = ARCHITECTURES[self.architecture](tuple(self.edge_types), self.hidden,
                                                    out_channels=self.out_channels,
                                                    relation_aggr=self.relation_aggr)

    def embed(self, graph: HeteroGraph) -> dict:
        """Final ``{'user': [U, out], 'movie': [M, out]}`` embeddings over ``graph``'s edges."""
        return self.gnn(self.inputs(graph.node_id, {"movie": graph.movie_x}), graph.adjacency)

    def __call__(self, graph: HeteroGraph, edge_label_index) -> jnp.ndarray:
        z = self.embed(graph)
        return (z["user"][edge_label_index[0]] * z["movie"][edge_label_index[1]]).sum(-1)


def build_model(kg: KnowledgeGraph, **overrides) -> LinkModel:
    """A :class:`LinkModel` for ``kg``'s node types, movie features and edge types, with
    :data:`SETTINGS` (``model``: ``'sage'`` or ``'graphconv'``) updated with ``overrides``."""
    s = settings_for(SETTINGS, overrides)
    num_nodes = {t: kg.num_nodes[t] for t in kg.node_types}
    return LinkModel(num_nodes, kg.movie_x.shape[1], tuple(kg.edge_types), s["model"],
                     hidden=s["hidden"], out_channels=s["out_channels"],
                     relation_aggr=s["relation_aggr"])


def loss(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    """The chapter's training loss: binary cross-entropy with logits (chapter 3's)."""
    return bce_loss(logits, labels)


# --------------------------------------------------------------------------------------------------
# Data, training and evaluation
# --------------------------------------------------------------------------------------------------


def kg_graphs(kg: KnowledgeGraph, graph: BipartiteGraph, split: EdgeSplit) -> dict[str, HeteroGraph]:
    """``{'train', 'val', 'test'}`` -> :class:`HeteroGraph` with that part's message-passing
    ratings plus ``kg``'s side relations."""
    return {part: from_knowledge_graph(kg, kg.message_edges(graph, split, part))
            for part in ("train", "val", "test")}


@jax.jit
def train_step(state: TrainState, graph: HeteroGraph, pairs, labels):
    """One Adam step on the binary cross-entropy of one batch of labelled pairs."""
    def loss_fn(params):
        return loss(state.apply_fn(params, graph, pairs), labels)

    value, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), value


@jax.jit
def eval_step(state: TrainState, graph: HeteroGraph, pairs) -> jnp.ndarray:
    """Logits of ``pairs`` ``[2, n]``, propagating over ``graph``."""
    return state.apply_fn(state.params, graph, pairs)


@jax.jit
def _embed(state, graph):
    return state.apply_fn(state.params, graph, method="embed")


def embed_all(state: TrainState, graph: HeteroGraph) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, out], z_movie [M, out])`` over the whole ``graph``."""
    z = _embed(state, graph)
    return np.asarray(z["user"]), np.asarray(z["movie"])


def evaluate(state: TrainState, graph: HeteroGraph, pairs, labels) -> float:
    """ROC-AUC of the model on labelled ``pairs`` ``[2, n]``, propagating over ``graph``."""
    return roc_auc(np.asarray(eval_step(state, graph, jnp.asarray(pairs))), labels)


def fit(graph: BipartiteGraph, split: EdgeSplit, *, kg: KnowledgeGraph, device=None,
        **overrides) -> Fit:
    """Train on ``kg`` (its side relations, and ``split``'s ratings of ``graph``) with early
    stopping on validation AUC; return the best state and the history. Settings:
    :data:`SETTINGS` (``model='sage'`` or ``'graphconv'``) updated with ``overrides``.

    Each epoch runs :func:`~course_lib.graph.supervision_batches` seeded with ``seed``: the same
    batches as the PyG twin. The history holds per-epoch ``loss``, ``val_auc`` and ``seconds``
    (training time), and ``best_epoch`` (1-based).
    """
    s = settings_for(SETTINGS, overrides)
    rng = np.random.default_rng(s["seed"])
    graphs = jax.device_put(kg_graphs(kg, graph, split), device)
    model = build_model(kg, **overrides)
    params = jax.jit(model.init)(jax.random.key(s["seed"]), graphs["train"],
                        jnp.zeros((2, 1), jnp.int32))
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(s["lr"]))
    val_pairs, val_labels = split.labelled_pairs(graph, "val")

    def train_epoch(state):
        losses = []
        for pairs, labels in supervision_batches(graph, split, s["batch_size"], rng):
            state, value = train_step(state, graphs["train"], pairs, labels)
            losses.append(value)
        return state, float(np.mean(jax.device_get(losses)))

    state, history, best = fit_loop(
        state, train_epoch, lambda state: evaluate(state, graphs["val"], val_pairs, val_labels),
        snapshot=lambda state: state.params,  # immutable: no copy needed
        max_epochs=s["max_epochs"], patience=s["patience"], mode="max", metric="val_auc",
        desc=f"JAX {s['model']} ({kg.name})",
        checkpoint=Checkpoint.for_fit(f"jax-hetero-{s['model']}-{kg.name.replace(' ', '-')}",
                                      s, kg, graph, split, module=__name__))
    return Fit(state.replace(params=best), history, history["best_epoch"])


# --------------------------------------------------------------------------------------------------
# Weights from PyG (parity)
# --------------------------------------------------------------------------------------------------


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters of :class:`LinkModel` from :func:`course_lib.pyg.nn.numpy_weights` of the
    PyG twin. PyG names a ``HeteroConv``'s convolutions ``convs.<src___rel___dst>``; flax names
    them after the relation (``gnn.conv1.convs.<user___rates___movie>.lin_l`` is
    ``gnn/conv1_rates/lin_l``, see :func:`~course_lib.jax.nn.flax_path`)."""
    return params_from_torch(weights, flax_path)
