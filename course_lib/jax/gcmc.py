"""Graph convolutional matrix completion (GC-MC) in JAX (PyG twin: ``course_lib/pyg/gcmc.py``).

The same model, loss and training protocol as the PyG twin, on the course's ``GraphsTuple``
(users, then movies; each rating edge in both directions, its rating in ``edges['rating']``):

* :class:`~course_lib.jax.nn.GCMCConv` - one relation per rating level, ordinal weight sharing,
  every (receiver, level) sum in one product with the graph's ``[N R, N R]`` level matrix
  (``graph.globals['levels']``, built once), stacked by a reshape;
* a ReLU, dropout, one dense layer per node type;
* :class:`~course_lib.jax.nn.BilinearBasisDecoder` - a logit per rating level;
  :func:`expected_rating` is the prediction, the cross-entropy of the true level the loss.

Each epoch a fresh random ``supervision`` share of the training edges is held out of message
passing (their edge weight is 0: the level matrix keeps its layout and the shapes stay fixed,
so the jitted step compiles once) and the loss is computed on them only.

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of GC-MC (every rating level in one product with the cached
level matrix); before: the same models propagating edge by edge, a gather and a scatter on every
layer of every step: gcmc: 54 + 13 ms before, 29 + 11 ms after (after: also
narrower layers, 100 and 32 features instead of 200 and 64, ``benchmarks/gcmc_settings.py``).
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from .. import settings
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..ratings import RATING_LEVELS, held_out_edges, mae, part_pairs, rating_level
from ..training import Fit, fit_loop, settings_for
from .gcn import eval_step, evaluate, predict, predict_user, rating_graphs  # noqa: F401
from .nn import (BilinearBasisDecoder, GCMCConv, InputLayer, dense, flax_path, node_dropout,
                 params_from_torch)
from .state import TrainState

#: The chapter's GC-MC hyper-parameters (:data:`course_lib.settings.GCMC`, read by the PyG
#: twin too).
SETTINGS = settings.GCMC
NUM_LEVELS = len(RATING_LEVELS)


def expected_rating(logits: jnp.ndarray) -> jnp.ndarray:
    """``[n, R]`` logits over the rating levels -> ``[n]`` expected ratings
    ``sum_r p_r * level_r`` with ``p = softmax(logits)`` (levels 0.5, 1.0, ..., 5.0
    stars)."""
    levels = jnp.arange(1, logits.shape[-1] + 1, dtype=logits.dtype) * 0.5
    return jax.nn.softmax(logits, axis=-1) @ levels


class GCMC(nn.Module):
    """Input layer (id embeddings, genres for movies), node dropout, :class:`GCMCConv` over the
    rating levels, ReLU, dropout, a dense layer per node type (no bias, no activation), and the
    bilinear basis decoder. Returns ``[n, R]`` logits. Dropout needs ``train=True`` and a
    ``'dropout'`` rng."""

    num_users: int
    num_movies: int
    num_features: int
    embed_dim: int = 64
    hidden: int = 100
    out: int = 32
    accum: str = "stack"
    num_bases: int = 2
    dropout: float = 0.2
    ordinal: bool = True

    def setup(self):
        self.inputs = InputLayer({"user": self.num_users, "movie": self.num_movies},
                                 {"movie": self.num_features}, self.embed_dim)
        self.conv = GCMCConv(self.hidden, NUM_LEVELS, accum=self.accum, ordinal=self.ordinal)
        self.out_user = dense(self.out, "out_user", use_bias=False)
        self.out_movie = dense(self.out, "out_movie", use_bias=False)
        self.decoder = BilinearBasisDecoder(NUM_LEVELS, self.num_bases)
        self.hidden_dropout = nn.Dropout(self.dropout)

    def embed(self, graph: jraph.GraphsTuple, edge_weight=None, train: bool = False
                    ) -> dict:
        u = self.num_users
        node_id, x = graph.nodes["node_id"], graph.nodes["x"]
        x = self.inputs({"user": node_id[:u], "movie": node_id[u:]}, {"movie": x[u:]})
        h = jnp.concatenate([x["user"], x["movie"]])
        h = node_dropout(h, self.dropout, train, self.make_rng("dropout") if train else None)
        h = nn.relu(self.conv(h, graph.globals["levels"], edge_weight))
        h = self.hidden_dropout(h, deterministic=not train)
        return {"user": self.out_user(h[:u]), "movie": self.out_movie(h[u:])}

    def __call__(self, graph: jraph.GraphsTuple, edge_label_index, edge_weight=None,
                 train: bool = False) -> jnp.ndarray:
        z = self.embed(graph, edge_weight, train)
        return self.decoder(z["user"], z["movie"], edge_label_index)

    def rate(self, graph: jraph.GraphsTuple, edge_label_index) -> jnp.ndarray:
        """Expected ratings of the pairs (:func:`expected_rating` of the logits)."""
        return expected_rating(self(graph, edge_label_index))


def build_model(graph: BipartiteGraph, **overrides) -> GCMC:
    """GC-MC with :data:`SETTINGS` updated with ``overrides``, for ``graph``'s users, movies
    and movie features."""
    s = settings_for(SETTINGS, overrides)
    return GCMC(graph.num_users, graph.num_movies, graph.movie_x.shape[1],
                **{k: s[k] for k in ("embed_dim", "hidden", "out", "accum", "num_bases",
                                     "dropout", "ordinal")})


def loss(logits: jnp.ndarray, level: jnp.ndarray, kind: str = "ce") -> jnp.ndarray:
    """Mean over the pairs of the cross-entropy of the true ``level`` (``kind='ce'``) or of
    the L1 error of the expected rating (``'l1'``)."""
    if kind == "ce":
        return optax.softmax_cross_entropy_with_integer_labels(logits, level).mean()
    if kind == "l1":
        return jnp.abs(expected_rating(logits) - (level + 1) * 0.5).mean()
    raise ValueError(f"loss must be 'ce' or 'l1', got {kind!r}")


# --------------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------------


@partial(jax.jit, static_argnames="kind")
def train_step(state: TrainState, graph: jraph.GraphsTuple, pairs, level, held_out,
               kind: str = "ce") -> tuple[TrainState, jax.Array]:
    """One Adam step. ``pairs`` ``[2, E]`` and ``level`` ``[E]``: the training
    edges, in the order of ``graph``'s first ``E`` edges. The ``held_out`` ones
    (edge ids, always as many: one compile) pass no message and are the only ones in
    the loss. Dropout draws from ``state.step_key()``."""
    keep = jnp.ones(pairs.shape[1]).at[held_out].set(0.0)
    edge_weight = jnp.tile(keep, 2)   # each edge in both directions

    def loss_fn(params):
        logits = state.apply_fn(params, graph, pairs[:, held_out], edge_weight,
                                train=True, rngs={"dropout": state.step_key()})
        return loss(logits, level[held_out], kind)

    value, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), value


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None, **overrides) -> Fit:
    """Full-batch training with early stopping on validation MAE (the best epoch's parameters are
    returned). Settings: :data:`SETTINGS` updated with ``overrides``. Each epoch draws its
    held-out edges from one numpy generator seeded with ``seed``, as the PyG twin does. The
    history holds per-epoch ``loss``, ``val_mae`` and ``seconds``, and ``best_epoch``."""
    s = settings_for(SETTINGS, overrides)
    rng = np.random.default_rng(s["seed"])
    graphs = jax.device_put(rating_graphs(graph, split), device)
    train_pairs, train_rating = part_pairs(graph, split, "train")  # the graph's edge order
    pairs, level = jax.device_put((train_pairs, rating_level(train_rating)), device)
    val_pairs, val_rating = part_pairs(graph, split, "val")
    val_pairs = jax.device_put(val_pairs, device)
    model = build_model(graph, **overrides)
    init_key, dropout_key = jax.random.split(jax.random.key(s["seed"]))
    params = jax.jit(model.init)(init_key, graphs["train"], pairs[:, :2])
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(s["lr"]),
                              key=dropout_key)

    def train_epoch(state):
        held = jnp.asarray(held_out_edges(pairs.shape[1], s["supervision"], rng))
        return train_step(state, graphs["train"], pairs, level, held, s["loss"])

    def validate(state):
        return mae(np.asarray(eval_step(state, graphs["val"], val_pairs)), val_rating)

    state, history, best = fit_loop(
        state, train_epoch, validate, snapshot=lambda s: s.params,  # immutable: no copy
        max_epochs=s["max_epochs"], patience=s["patience"], mode="min", metric="val_mae",
        eval_every=s["eval_every"],
        desc="JAX GC-MC",
        checkpoint=Checkpoint.for_fit("jax-gcmc", s, graph, split, module=__name__))
    return Fit(state.replace(params=best), history, history["best_epoch"])


# --------------------------------------------------------------------------------------------------
# Weights from PyG (parity)
# --------------------------------------------------------------------------------------------------


def _gcmc_path(torch_name: str) -> tuple[str, ...]:
    # GCMCConv's and the decoder's parameters keep their torch names and layouts
    if torch_name in ("conv.weight", "decoder.basis", "decoder.coef"):
        return tuple(torch_name.split("."))
    return flax_path(torch_name)


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters of :class:`GCMC` from :func:`course_lib.pyg.nn.numpy_weights` of the PyG
    twin (``out.user.weight`` is ``out_user/kernel``, transposed; ``conv.weight``,
    ``decoder.basis`` and ``decoder.coef`` keep their names and layouts)."""
    return params_from_torch(weights, _gcmc_path)
