"""Graph convolutional matrix completion (GC-MC) in JAX (PyG twin: ``course_lib/pyg/gcmc.py``).

The same model, loss and training protocol as the PyG twin, on the course's ``GraphsTuple``
(users, then movies; each rating edge in both directions, its rating in ``edges['rating']``):

* :class:`~course_lib.jax.nn.GCMCConv` - one relation per rating level, ordinal weight sharing,
  per-level sums stacked with one segment sum over ``receiver * R + level``;
* a ReLU, dropout, one dense layer per node type;
* :class:`~course_lib.jax.nn.BilinearBasisDecoder` - a logit per rating level;
  :func:`expected_rating` is the prediction, the cross-entropy of the true level the loss.

Each epoch a fresh random ``supervision`` share of the training edges is held out of message
passing (their edge weight is 0: the shapes stay fixed, so the jitted step compiles once) and
the loss is computed on them only.
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from flax.training.train_state import TrainState

from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..ratings import (RATING_LEVELS, errors, held_out_edges, mae, part_pairs, rating_level,
                       user_pairs)
from ..training import fit_loop, with_settings
from .gcn import rating_graphs
from .nn import (BilinearBasisDecoder, GCMCConv, InputLayer, dense, flax_path, node_dropout,
                 params_from_torch)

#: The chapter's GC-MC hyper-parameters (the PyG twin has the same values); see the PyG twin.
SETTINGS = dict(embed_dim=64, hidden=200, out=64, accum="stack", num_bases=2, ordinal=True,
                dropout=0.2,
                lr=0.01, max_epochs=1500, patience=150, seed=0, supervision=0.1, loss="ce")
TRAINING_KEYS = ("lr", "max_epochs", "patience", "seed", "supervision", "loss")
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
    hidden: int = 200
    out: int = 64
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


def build_model(graph: BipartiteGraph, **kwargs) -> GCMC:
    return GCMC(graph.num_users, graph.num_movies, graph.movie_x.shape[1], **kwargs)


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
               key: jax.Array, kind: str = "ce"):
    """One Adam step. ``pairs`` ``[2, E]`` and ``level`` ``[E]``: the training edges,
    in the order of ``graph``'s first ``E`` edges. The ``held_out`` ones (edge ids,
    always as many: one compile) pass no message and are the only ones in the loss.
    ``key`` drives dropout."""
    keep = jnp.ones(pairs.shape[1]).at[held_out].set(0.0)
    edge_weight = jnp.tile(keep, 2)   # each edge in both directions

    def loss_fn(params):
        logits = state.apply_fn(params, graph, pairs[:, held_out], edge_weight,
                                train=True, rngs={"dropout": key})
        return loss(logits, level[held_out], kind)

    value, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), value


@jax.jit
def eval_step(state: TrainState, graph: jraph.GraphsTuple, pairs) -> jnp.ndarray:
    """Expected ratings of ``pairs`` ``[2, n]``, passing messages over all of ``graph``'s edges."""
    return expected_rating(state.apply_fn(state.params, graph, pairs))


def fit(graph: BipartiteGraph, split: EdgeSplit, **overrides) -> tuple[TrainState, dict]:
    """Full-batch training with early stopping on validation MAE (the best epoch's parameters are
    returned). Settings: :data:`SETTINGS` updated with ``overrides``. Each epoch draws its
    held-out edges from one numpy generator seeded with ``seed``, as the PyG twin does. The
    history holds per-epoch ``loss``, ``val_mae`` and ``seconds``, and ``best_epoch``."""
    settings = with_settings(SETTINGS, overrides)
    lr, max_epochs, patience, seed, supervision, kind = (settings.pop(k) for k in TRAINING_KEYS)
    rng = np.random.default_rng(seed)
    graphs = rating_graphs(graph, split)
    train_pairs, train_rating = part_pairs(graph, split, "train")  # the graph's edge order
    pairs, level = jnp.asarray(train_pairs), jnp.asarray(rating_level(train_rating))
    val_pairs, val_rating = part_pairs(graph, split, "val")
    val_pairs = jnp.asarray(val_pairs)
    model = build_model(graph, **settings)
    init_key, dropout_key = jax.random.split(jax.random.key(seed))
    params = model.init(init_key, graphs["train"], pairs[:, :2])
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(lr))

    def train_epoch(state):
        held = jnp.asarray(held_out_edges(pairs.shape[1], supervision, rng))
        key = jax.random.fold_in(dropout_key, state.step)
        return train_step(state, graphs["train"], pairs, level, held, key, kind)

    def validate(state):
        return mae(np.asarray(eval_step(state, graphs["val"], val_pairs)), val_rating)

    state, history, best = fit_loop(
        state, train_epoch, validate, snapshot=lambda s: s.params,  # immutable: no copy
        max_epochs=max_epochs, patience=patience, mode="min", metric="val_mae",
        desc="JAX GC-MC",
        checkpoint=Checkpoint.for_fit("jax-gcmc", with_settings(SETTINGS, overrides), graph,
                                      split))
    return state.replace(params=best), history


def predict(state: TrainState, graph: jraph.GraphsTuple, pairs) -> np.ndarray:
    """Expected ratings of ``pairs`` ``[2, n]`` (user, movie indices)."""
    return np.asarray(eval_step(state, graph, jnp.asarray(pairs)))


def evaluate(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, part: str
             ) -> dict[str, float]:
    """MAE and RMSE on ``part``'s rated edges, passing messages over that part's edges."""
    pairs, ratings = part_pairs(graph, split, part)
    return errors(predict(state, rating_graphs(graph, split)[part], pairs), ratings)


def predict_user(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, user: int
                 ) -> np.ndarray:
    """Expected rating of every movie for ``user`` (test-time graph), ``[num_movies]``."""
    return predict(state, rating_graphs(graph, split)["test"], user_pairs(graph, user))


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
