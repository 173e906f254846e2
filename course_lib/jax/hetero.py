"""Link prediction on the heterogeneous knowledge graph in JAX (PyG twin: ``course_lib/pyg/hetero.py``).

The same two models as the PyG chapter, in flax over a :class:`~course_lib.jax.data.HeteroGraph`
(the JAX counterpart of ``HeteroData``): what PyG's ``HeteroConv`` does is written out.

* per edge type, one convolution: a ``jraph`` segment aggregation (``segment_mean``) of the
  source type's features onto the destination type, then that edge type's own dense layers
  (:class:`~course_lib.jax.sage.SAGEConv` or :class:`~course_lib.jax.gcn.GraphConv`);
* per destination type, the sum of the edge types that end there (:func:`sum_by_destination`,
  ``HeteroConv(..., aggr='sum')``);
* :class:`InputLayer`, :class:`HeteroSAGE`, :class:`HeteroGraphConv` and the dot-product
  :class:`LinkModel` mirror the PyG classes name for name; :func:`params_from_pyg` maps PyG's
  weights for the parity tests.

Training is full-graph with the same batches as PyG (:func:`course_lib.graph.supervision_batches`);
the graph is an argument of the jitted step, not a constant.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from ..graph import BipartiteGraph, EdgeSplit, supervision_batches
from ..kg import KnowledgeGraph
from ..metrics import roc_auc
from ..utils import train_with_early_stopping
from .data import HeteroGraph, from_knowledge_graph
from .gcn import GraphConv
from .sage import TORCH_LINEAR_INIT, SAGEConv, bce_loss

OUTPUT_TYPES = ("user", "movie")
EMBEDDING_STD = 0.1  # as the PyG twin: learned embeddings start at N(0, 0.1^2)


def sum_by_destination(outputs: dict) -> dict:
    """``{(src, rel, dst): [N_dst, F]}`` -> ``{dst: [N_dst, F]}``: each node type receives the sum
    of the outputs of the edge types that end at it (``HeteroConv(..., aggr='sum')``). Node types
    that no edge type reaches are absent from the result."""
    out = {}
    for (_, _, dst), h in outputs.items():
        out[dst] = h if dst not in out else out[dst] + h
    return out


def hetero_conv(make_conv, x: dict, graph: HeteroGraph, edge_types) -> dict:
    """One heterogeneous layer: ``make_conv(edge_type)`` builds that edge type's convolution,
    applied as ``conv(x_src, x_dst, senders, receivers)``; the results are summed per
    destination type."""
    outputs = {}
    for edge_type in edge_types:
        src, name, dst = edge_type
        senders, receivers = graph.edge_index[name]
        outputs[edge_type] = make_conv(edge_type)(x[src], x[dst], senders, receivers)
    return sum_by_destination(outputs)


class InputLayer(nn.Module):
    """Layer-0 features per node type: a dense map of the movie features for movies, a learned
    embedding for every other type in ``graph``, initialised ``N(0, EMBEDDING_STD^2)``."""

    hidden: int

    @nn.compact
    def __call__(self, graph: HeteroGraph) -> dict:
        x = {t: nn.Embed(ids.shape[0], self.hidden,
                         embedding_init=nn.initializers.normal(EMBEDDING_STD), name=f"emb_{t}")(ids)
             for t, ids in graph.node_id.items() if t != "movie"}
        x["movie"] = nn.Dense(self.hidden, kernel_init=TORCH_LINEAR_INIT,
                              name="movie_lin")(graph.movie_x)
        return x


class HeteroSAGE(nn.Module):
    """Two heterogeneous SAGE layers, ``hidden`` then ``out`` features, ReLU in between; the
    second layer only computes the user and movie outputs."""

    hidden: int = 64
    out: int = 32

    @nn.compact
    def __call__(self, x: dict, graph: HeteroGraph) -> dict:
        types = graph.edge_types
        x = hetero_conv(lambda et: SAGEConv(self.hidden, name=f"conv1_{et[1]}"), x, graph, types)
        x = {t: nn.relu(h) for t, h in x.items()}
        return hetero_conv(lambda et: SAGEConv(self.out, name=f"conv2_{et[1]}"), x, graph,
                           [et for et in types if et[2] in OUTPUT_TYPES])


class HeteroGraphConv(nn.Module):
    """``num_layers`` heterogeneous ``GraphConv`` layers (mean over neighbours, sum over edge
    types, ReLU after each), then a dense layer ``hidden -> out`` per output type."""

    hidden: int = 64
    out: int = 32
    num_layers: int = 2
    aggr: str = "mean"

    @nn.compact
    def __call__(self, x: dict, graph: HeteroGraph) -> dict:
        for i in range(self.num_layers):
            types = [et for et in graph.edge_types
                     if i < self.num_layers - 1 or et[2] in OUTPUT_TYPES]
            x = hetero_conv(lambda et: GraphConv(self.hidden, self.aggr, name=f"conv{i}_{et[1]}"),
                            x, graph, types)
            x = {t: nn.relu(h) for t, h in x.items()}
        return {t: nn.Dense(self.out, kernel_init=TORCH_LINEAR_INIT, name=f"out_{t}")(x[t])
                for t in OUTPUT_TYPES}


ARCHITECTURES = {"sage": HeteroSAGE, "graphconv": HeteroGraphConv}


class LinkModel(nn.Module):
    """Input layer, a heterogeneous encoder (``'sage'`` or ``'graphconv'``), dot-product scores."""

    architecture: str = "sage"
    hidden: int = 64
    out: int = 32

    def setup(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, "
                             f"got {self.architecture!r}")
        self.inputs = InputLayer(self.hidden)
        self.gnn = ARCHITECTURES[self.architecture](self.hidden, self.out)

    def embed(self, graph: HeteroGraph) -> dict:
        """Final ``{'user': [U, out], 'movie': [M, out]}`` embeddings over ``graph``'s edges."""
        return self.gnn(self.inputs(graph), graph)

    def __call__(self, graph: HeteroGraph, edge_label_index) -> jnp.ndarray:
        z = self.embed(graph)
        return (z["user"][edge_label_index[0]] * z["movie"][edge_label_index[1]]).sum(-1)


def build_model(kg: KnowledgeGraph, architecture: str = "sage", **kwargs) -> LinkModel:
    """A :class:`LinkModel`; node and edge types come from the graph it is applied to."""
    return LinkModel(architecture, **kwargs)


# --------------------------------------------------------------------------------------------------
# Data, training and evaluation
# --------------------------------------------------------------------------------------------------


def kg_graphs(kg: KnowledgeGraph, graph: BipartiteGraph, split: EdgeSplit) -> dict[str, HeteroGraph]:
    """``{'train', 'val', 'test'}`` -> :class:`HeteroGraph` with that part's message-passing
    ratings plus ``kg``'s side relations."""
    return {part: from_knowledge_graph(kg, kg.message_edges(graph, split, part))
            for part in ("train", "val", "test")}


@jax.jit(static_argnums=0)
def _embed(apply_fn, params, graph):
    return apply_fn(params, graph, method="embed")


def embed_all(state: TrainState, graph: HeteroGraph) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, out], z_movie [M, out])`` over the whole ``graph``."""
    z = _embed(state.apply_fn, state.params, graph)
    return np.asarray(z["user"]), np.asarray(z["movie"])


def evaluate(state: TrainState, graph: HeteroGraph, pairs, labels) -> float:
    """ROC-AUC of the model on labelled ``pairs`` ``[2, n]``, propagating over ``graph``."""
    z_user, z_movie = embed_all(state, graph)
    return roc_auc((z_user[pairs[0]] * z_movie[pairs[1]]).sum(1), labels)


@jax.jit
def train_step(state: TrainState, graph: HeteroGraph, pairs, labels):
    """One Adam step on the binary cross-entropy of one batch of labelled pairs."""
    def loss_fn(params):
        return bce_loss(state.apply_fn(params, graph, pairs), labels)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


def fit(kg: KnowledgeGraph, graph: BipartiteGraph, split: EdgeSplit, *,
        architecture: str = "sage", hidden: int = 64, out: int = 32, lr: float = 5e-3,
        batch_size: int = 2048, max_epochs: int = 30, patience: int = 3,
        seed: int = 0) -> tuple[TrainState, dict]:
    """Train with early stopping on validation AUC; return the best state and the history.

    Each epoch runs :func:`~course_lib.graph.supervision_batches` seeded with ``seed``: the same
    batches as the PyG twin. The history holds per-epoch ``loss``, ``val_auc`` and ``seconds``
    (training time), and ``best_epoch`` (1-based).
    """
    rng = np.random.default_rng(seed)
    graphs = kg_graphs(kg, graph, split)
    model = build_model(kg, architecture, hidden=hidden, out=out)
    params = model.init(jax.random.key(seed), graphs["train"], jnp.zeros((2, 1), jnp.int32))
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(lr))
    val_pairs, val_labels = split.labelled_pairs(graph, "val")

    def train() -> float:
        nonlocal state
        losses = []
        for pairs, labels in supervision_batches(graph, split, batch_size, rng):
            state, loss = train_step(state, graphs["train"], pairs, labels)
            losses.append(loss)
        return float(np.mean(jax.device_get(losses)))

    history, best = train_with_early_stopping(
        train, lambda: evaluate(state, graphs["val"], val_pairs, val_labels),
        lambda: state.params,  # immutable: no copy needed
        max_epochs=max_epochs, patience=patience, desc=f"JAX {architecture} ({kg.name})")
    return state.replace(params=best), history


# --------------------------------------------------------------------------------------------------
# Weights from PyG (parity)
# --------------------------------------------------------------------------------------------------


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters of :class:`LinkModel` from :func:`course_lib.pyg.hetero.numpy_weights`.

    PyG names a ``HeteroConv``'s convolutions ``convs.<src___rel___dst>``; flax names them after
    the relation (``conv1_rates``, ``conv0_has_actor``...). ``Linear`` weights are transposed
    to flax's ``[in, out]`` kernels.
    """
    def dense(prefix):
        p = {"kernel": jnp.asarray(weights[f"{prefix}.weight"].T)}
        if f"{prefix}.bias" in weights:
            p["bias"] = jnp.asarray(weights[f"{prefix}.bias"])
        return p

    inputs = {"movie_lin": dense("inputs.movie_lin")}
    gnn = {}
    for key in weights:
        if key.startswith("inputs.emb.") and key.endswith(".weight"):
            node_type = key[len("inputs.emb."):-len(".weight")]
            inputs[f"emb_{node_type}"] = {"embedding": jnp.asarray(weights[key])}
        elif key.startswith("gnn.out.") and key.endswith(".weight"):
            gnn[f"out_{key.split('.')[2]}"] = dense(key[:-len(".weight")])
        elif key.startswith("gnn.conv") and ".convs.<" in key:
            # gnn.conv1.convs.<user___rates___movie>.lin_l.weight  (HeteroSAGE)
            # gnn.convs.0.convs.<movie___has_actor___actor>.lin_rel.weight  (HeteroGraphConv)
            head, rest = key.split(".convs.<", 1)
            edge_type, rest = rest.split(">.", 1)
            layer = head[len("gnn."):].replace("convs.", "conv")
            lin, _ = rest.split(".", 1)
            prefix = f"{head}.convs.<{edge_type}>.{lin}"
            gnn.setdefault(f"{layer}_{edge_type.split('___')[1]}", {})[lin] = dense(prefix)
    return {"params": {"inputs": inputs, "gnn": gnn}}
