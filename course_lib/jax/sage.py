"""GraphSAGE link prediction on MovieLens in JAX (PyG twin: ``course_lib/pyg/sage.py``).

The same model as the PyG chapter, written with flax over the course's jraph ``GraphsTuple``
(:mod:`course_lib.jax.data`: users first, then movies; the first half of the edges ``rates``,
the second half their reverses ``rev_rates``):

* **input layer** - learned user and movie embeddings plus a linear map of the genres;
* **encoder** - two heterogeneous SAGE layers: per edge type, the mean of the senders'
  features (``jraph.segment_mean``) through ``lin_l`` plus the receiver's own features through
  ``lin_r``, as PyG's ``SAGEConv``; each node type receives from one edge type only, so the
  per-type sum that ``to_hetero`` does has a single term;
* **classifier** - the dot product of user and movie embeddings.

Training is *full-graph*: every step propagates over all training message-passing edges and
computes the loss on a mini-batch of supervision positives plus uniform random negatives, in
one jitted function. On MovieLens-small (10k nodes, 113k directed edges) a full propagation costs
milliseconds, so sampling would only add noise; see the chapter for what changes at scale.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from flax.training.train_state import TrainState

from ..graph import BipartiteGraph, EdgeSplit
from ..metrics import roc_auc
from ..utils import train_with_early_stopping

# torch's default initialisation, so both frameworks start from the same distributions:
# Linear weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)), Embedding weights N(0, 1).
TORCH_LINEAR_INIT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
TORCH_EMBED_INIT = nn.initializers.normal(stddev=1.0)


def dot_product_scores(x_user: jnp.ndarray, x_movie: jnp.ndarray,
                       edge_label_index: jnp.ndarray) -> jnp.ndarray:
    """Score ``[n]`` of each (user, movie) pair in ``edge_label_index`` ``[2, n]``: the dot product
    of the user's row of ``x_user`` and the movie's row of ``x_movie`` (a logit)."""
    return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(axis=-1)


def mean_aggregate(x_src: jnp.ndarray, senders: jnp.ndarray, receivers: jnp.ndarray,
                   num_dst: int) -> jnp.ndarray:
    """``[num_dst, F]``: for each receiver, the mean of its senders' rows of ``x_src``.

    ``senders`` index ``x_src``, ``receivers`` index the ``num_dst`` receiving nodes; a receiver
    without edges gets zeros (as PyG's mean aggregation).
    """
    return jraph.segment_mean(x_src[senders], receivers, num_segments=num_dst)


class SAGEConv(nn.Module):
    """``out_i = lin_l(mean_{j -> i} x_j) + lin_r(x_i)``, for one edge type (PyG's ``SAGEConv``).

    ``lin_l`` (neighbours) has a bias, ``lin_r`` (root) has none, as in PyG.
    """

    features: int

    @nn.compact
    def __call__(self, x_src, x_dst, senders, receivers):
        neighbours = mean_aggregate(x_src, senders, receivers, x_dst.shape[0])
        return (nn.Dense(self.features, kernel_init=TORCH_LINEAR_INIT, name="lin_l")(neighbours)
                + nn.Dense(self.features, use_bias=False, kernel_init=TORCH_LINEAR_INIT,
                           name="lin_r")(x_dst))


def edge_types(graph: jraph.GraphsTuple, num_users: int) -> dict[str, tuple]:
    """``{'rates': (user, movie), 'rev_rates': (movie, user)}`` index pairs of ``graph``'s
    two halves, each node counted within its own type."""
    e = graph.senders.shape[0] // 2
    return {"rates": (graph.senders[:e], graph.receivers[:e] - num_users),
            "rev_rates": (graph.senders[e:] - num_users, graph.receivers[e:])}


class GNN(nn.Module):
    """Two heterogeneous SAGE layers with a ReLU in between (what ``to_hetero`` builds in PyG)."""

    hidden: int

    @nn.compact
    def __call__(self, x: dict, graph: jraph.GraphsTuple) -> dict:
        types = edge_types(graph, x["user"].shape[0])
        for layer in ("conv1", "conv2"):
            x = {"movie": SAGEConv(self.hidden, name=f"{layer}_rates")(
                     x["user"], x["movie"], *types["rates"]),
                 "user": SAGEConv(self.hidden, name=f"{layer}_rev_rates")(
                     x["movie"], x["user"], *types["rev_rates"])}
            if layer == "conv1":
                x = {k: nn.relu(v) for k, v in x.items()}
        return x


class Model(nn.Module):
    """Input layer + heterogeneous two-layer SAGE + dot-product classifier."""

    num_users: int
    num_movies: int
    hidden: int = 64

    def setup(self):
        self.movie_lin = nn.Dense(self.hidden, kernel_init=TORCH_LINEAR_INIT)
        self.user_emb = nn.Embed(self.num_users, self.hidden, embedding_init=TORCH_EMBED_INIT)
        self.movie_emb = nn.Embed(self.num_movies, self.hidden, embedding_init=TORCH_EMBED_INIT)
        self.gnn = GNN(self.hidden)

    def input_features(self, graph: jraph.GraphsTuple) -> dict:
        """Layer-0 features, looked up by each node's ``node_id`` (its index within its type)."""
        u = self.num_users
        node_id, x = graph.nodes["node_id"], graph.nodes["x"]
        return {"user": self.user_emb(node_id[:u]),
                "movie": self.movie_lin(x[u:]) + self.movie_emb(node_id[u:])}

    def embed(self, graph: jraph.GraphsTuple) -> dict:
        """Final node embeddings ``{'user': [U, H], 'movie': [M, H]}``."""
        return self.gnn(self.input_features(graph), graph)

    def __call__(self, graph: jraph.GraphsTuple, edge_label_index: jnp.ndarray) -> jnp.ndarray:
        z = self.embed(graph)
        return dot_product_scores(z["user"], z["movie"], edge_label_index)


def build_model(graph: BipartiteGraph, hidden: int = 64) -> Model:
    return Model(graph.num_users, graph.num_movies, hidden)


# --------------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------------


def bce_loss(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    """Mean binary cross-entropy with logits (``F.binary_cross_entropy_with_logits``)."""
    return optax.sigmoid_binary_cross_entropy(logits, labels).mean()


def make_train_step(num_users: int, num_movies: int, neg_ratio: float = 2.0):
    """A jitted ``step(state, graph, positives, key) -> (state, loss)``.

    ``positives`` ``[2, B]`` are supervision pairs; ``neg_ratio * B`` negatives are drawn
    uniformly at random over all (user, movie) pairs, as ``LinkNeighborLoader`` does (not checked
    against the ratings: about 1.7 % of random pairs on MovieLens-small are in fact rated).
    """

    @jax.jit
    def step(state: TrainState, graph, positives, key):
        num_neg = int(round(positives.shape[1] * neg_ratio))
        ku, km = jax.random.split(key)
        negatives = jnp.stack([jax.random.randint(ku, (num_neg,), 0, num_users),
                               jax.random.randint(km, (num_neg,), 0, num_movies)])
        pairs = jnp.concatenate([positives, negatives], axis=1)
        labels = jnp.concatenate([jnp.ones(positives.shape[1]), jnp.zeros(num_neg)])

        def loss_fn(params):
            return bce_loss(state.apply_fn(params, graph, pairs), labels)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    return step


def predict(state: TrainState, graph: jraph.GraphsTuple, pairs) -> np.ndarray:
    """Scores of ``pairs`` ``[2, n]`` (user, movie indices), propagating over ``graph``."""
    return np.asarray(jitted_apply(state.apply_fn, state.params, graph, jnp.asarray(pairs)))


@jax.jit(static_argnums=0)
def jitted_apply(apply_fn, params, graph, pairs):
    """``apply_fn(params, graph, pairs)``, compiled once per model (shared with ``gcn.py``)."""
    return apply_fn(params, graph, pairs)


def evaluate(state: TrainState, graph: jraph.GraphsTuple, pairs, labels) -> float:
    """ROC-AUC of the model on labelled ``pairs``, propagating over ``graph``."""
    return roc_auc(predict(state, graph, pairs), labels)


def fit(graph: BipartiteGraph, split: EdgeSplit, parts: dict, *, hidden: int = 64,
        lr: float = 1e-3, batch_size: int = 128, max_epochs: int = 20, patience: int = 3,
        seed: int = 0) -> tuple[TrainState, dict]:
    """Train with early stopping on validation AUC; return the best state and the history.

    ``parts`` is :func:`~course_lib.jax.data.split_graphstuple`'s output. An epoch visits every
    supervision positive once, in shuffled mini-batches of ``batch_size`` (the last, smaller
    batch is dropped so the jitted step compiles once). The history holds per-epoch ``loss``,
    ``val_auc`` and ``seconds``, and ``best_epoch`` (1-based).
    """
    rng = np.random.default_rng(seed)
    key, init_key = jax.random.split(jax.random.key(seed))
    model = build_model(graph, hidden)
    positives = graph.edge_index[:, split.train_supervision]
    params = model.init(init_key, parts["train"], jnp.asarray(positives[:, :2]))
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(lr))
    step = make_train_step(graph.num_users, graph.num_movies, split.neg_ratio)
    val_pairs, val_labels = split.labelled_pairs(graph, "val")
    num_batches = positives.shape[1] // batch_size

    def train() -> float:
        nonlocal state, key
        order = rng.permutation(positives.shape[1])
        losses = []
        for b in range(num_batches):
            key, step_key = jax.random.split(key)
            batch = positives[:, order[b * batch_size:(b + 1) * batch_size]]
            state, loss = step(state, parts["train"], batch, step_key)
            losses.append(loss)
        return float(np.mean(jax.device_get(losses)))

    history, best = train_with_early_stopping(
        train, lambda: evaluate(state, parts["val"], val_pairs, val_labels),
        lambda: state.params,  # immutable: no copy needed
        max_epochs=max_epochs, patience=patience, desc="JAX SAGE")
    return state.replace(params=best), history


# --------------------------------------------------------------------------------------------------
# Full-graph embeddings and weights from PyG (parity)
# --------------------------------------------------------------------------------------------------


def embed_all(state: TrainState, graph: jraph.GraphsTuple) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, H], z_movie [M, H])`` over the whole ``graph``."""
    z = _embed(state.apply_fn, state.params, graph)
    return np.asarray(z["user"]), np.asarray(z["movie"])


@jax.jit(static_argnums=0)
def _embed(apply_fn, params, graph):
    return apply_fn(params, graph, method="embed")


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters of :class:`Model` from PyG's ``state_dict`` names and numpy arrays
    (:func:`course_lib.pyg.sage.numpy_weights`). torch stores ``Linear`` weights as
    ``[out, in]``, flax kernels as ``[in, out]``: they are transposed."""
    def dense(prefix, bias=True):
        p = {"kernel": jnp.asarray(weights[f"{prefix}.weight"].T)}
        if bias:
            p["bias"] = jnp.asarray(weights[f"{prefix}.bias"])
        return p

    gnn = {}
    for layer in ("conv1", "conv2"):
        for name, pyg_type in (("rates", "user__rates__movie"),
                               ("rev_rates", "movie__rev_rates__user")):
            prefix = f"gnn.{layer}.{pyg_type}"
            gnn[f"{layer}_{name}"] = {"lin_l": dense(f"{prefix}.lin_l"),
                                      "lin_r": dense(f"{prefix}.lin_r", bias=False)}
    return {"params": {
        "movie_lin": dense("movie_lin"),
        "user_emb": {"embedding": jnp.asarray(weights["user_emb.weight"])},
        "movie_emb": {"embedding": jnp.asarray(weights["movie_emb.weight"])},
        "gnn": gnn,
    }}
