"""GraphSAGE link prediction on MovieLens in PyG (JAX twin: ``course_lib/jax/sage.py``).

The model of PyG's MovieLens link-prediction tutorial, on the course's shared split:

* **input layer** - every user gets a learned embedding; every movie a learned embedding plus a
  linear map of its 20 genre indicators;
* **encoder** - two ``SAGEConv`` layers (mean aggregation, separate root and neighbour weights),
  made heterogeneous with ``to_hetero``: one copy per edge type, ``rates`` (user -> movie) and
  ``rev_rates`` (movie -> user);
* **classifier** - the dot product of a user's and a movie's final embeddings, a logit.

Training samples mini-batches with ``LinkNeighborLoader`` (20 then 10 neighbours, 2 random
negatives per positive, 128 positives a batch), minimises binary cross-entropy with logits with
Adam, and stops early on validation ROC-AUC.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.nn import SAGEConv, to_hetero

from ..graph import BipartiteGraph
from ..metrics import roc_auc
from ..utils import progress, torch_device, train_with_early_stopping
from .data import RATES, REV_RATES


def dot_product_scores(x_user: torch.Tensor, x_movie: torch.Tensor,
                       edge_label_index: torch.Tensor) -> torch.Tensor:
    """Score ``[n]`` of each (user, movie) pair in ``edge_label_index`` ``[2, n]``: the dot product
    of the user's row of ``x_user`` and the movie's row of ``x_movie`` (a logit)."""
    return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(dim=-1)


class GNN(nn.Module):
    """Two ``SAGEConv`` layers with a ReLU in between, written for a homogeneous graph.

    ``to_hetero`` turns it into one copy per edge type; it decides which ``forward`` arguments
    are edge-level by their *name*, so the argument must be called ``edge_index``.
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.conv1 = SAGEConv(hidden, hidden)
        self.conv2 = SAGEConv(hidden, hidden)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x, edge_index))
        return self.conv2(x, edge_index)


class Classifier(nn.Module):
    """Dot-product decoder: no weights, one logit per (user, movie) pair."""

    def forward(self, x_user, x_movie, edge_label_index):
        return dot_product_scores(x_user, x_movie, edge_label_index)


class Model(nn.Module):
    """Input layer + heterogeneous two-layer SAGE + dot-product classifier."""

    def __init__(self, num_users: int, num_movies: int, num_features: int, hidden: int = 64):
        super().__init__()
        self.movie_lin = nn.Linear(num_features, hidden)
        self.user_emb = nn.Embedding(num_users, hidden)
        self.movie_emb = nn.Embedding(num_movies, hidden)
        metadata = (["user", "movie"], [RATES, REV_RATES])
        self.gnn = to_hetero(GNN(hidden), metadata=metadata)
        self.classifier = Classifier()

    def input_features(self, data: HeteroData) -> dict[str, torch.Tensor]:
        """Layer-0 features: embeddings looked up by ``node_id`` (the global index of each node
        of a sampled subgraph), plus the genre map for movies."""
        return {"user": self.user_emb(data["user"].node_id),
                "movie": self.movie_lin(data["movie"].x) + self.movie_emb(data["movie"].node_id)}

    def embed(self, data: HeteroData) -> dict[str, torch.Tensor]:
        """Final node embeddings ``{'user': [U, H], 'movie': [M, H]}`` of ``data``'s nodes."""
        return self.gnn(self.input_features(data), data.edge_index_dict)

    def forward(self, data: HeteroData) -> torch.Tensor:
        z = self.embed(data)
        return self.classifier(z["user"], z["movie"], data[RATES].edge_label_index)


def build_model(graph: BipartiteGraph, hidden: int = 64) -> Model:
    return Model(graph.num_users, graph.num_movies, graph.movie_x.shape[1], hidden)


# --------------------------------------------------------------------------------------------------
# Data: the shared split, and the loaders that sample mini-batches from it
# --------------------------------------------------------------------------------------------------


def link_loaders(parts: dict[str, HeteroData], *, batch_size: int = 128,
                 num_neighbors=(20, 10), neg_ratio: float = 2.0,
                 seed: int = 0) -> dict[str, LinkNeighborLoader]:
    """``LinkNeighborLoader`` s over the parts of :func:`~course_lib.pyg.data.split_heterodata`.

    Training batches hold ``batch_size`` supervision positives plus ``neg_ratio`` times as many
    fresh random negatives; validation and test batches hold ``(1 + neg_ratio) * batch_size``
    of the fixed labelled pairs, in order. Each batch is the subgraph sampled around its pairs'
    endpoints: ``num_neighbors[0]`` neighbours per endpoint, then ``num_neighbors[1]`` per
    neighbour, over that part's message-passing edges.
    """
    generator = torch.Generator().manual_seed(seed)
    loaders = {}
    for part, data in parts.items():
        train = part == "train"
        with warnings.catch_warnings():
            # without pyg-lib, PyG falls back to torch-sparse's sampler and says so
            warnings.filterwarnings("ignore", message=".*without a 'pyg-lib' installation")
            loaders[part] = LinkNeighborLoader(
                data, num_neighbors=list(num_neighbors),
                edge_label_index=(RATES, data[RATES].edge_label_index),
                edge_label=data[RATES].edge_label,
                neg_sampling_ratio=neg_ratio if train else None,
                batch_size=batch_size if train else int((1 + neg_ratio) * batch_size),
                shuffle=train, generator=generator if train else None)
    return loaders


# --------------------------------------------------------------------------------------------------
# Training and evaluation (flat, as in PyG's examples)
# --------------------------------------------------------------------------------------------------


def train_epoch(model: Model, loader, optimizer, device=None, desc: str = "train") -> float:
    """One pass over ``loader``; returns the mean binary cross-entropy per labelled pair."""
    device = device or torch_device()
    model.train()
    total_loss = total_examples = 0
    for batch in progress(loader, desc=desc, leave=False):
        batch = batch.to(device)
        optimizer.zero_grad()
        pred = model(batch)
        label = batch[RATES].edge_label
        loss = F.binary_cross_entropy_with_logits(pred, label)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * pred.numel()
        total_examples += pred.numel()
    return total_loss / total_examples


@torch.no_grad()
def predict(model: Model, loader, device=None, desc: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """``(scores, labels)`` of every labelled pair of ``loader`` (in loader order)."""
    device = device or torch_device()
    model.eval()
    scores, labels = [], []
    for batch in progress(loader, desc=desc, leave=False):
        batch = batch.to(device)
        scores.append(model(batch).cpu())
        labels.append(batch[RATES].edge_label.cpu())
    return torch.cat(scores).numpy(), torch.cat(labels).numpy()


def evaluate(model: Model, loader, device=None) -> float:
    """ROC-AUC of ``model`` on ``loader``'s labelled pairs."""
    return roc_auc(*predict(model, loader, device))


def fit(graph: BipartiteGraph, loaders: dict, *, hidden: int = 64, lr: float = 1e-3,
        max_epochs: int = 20, patience: int = 3, seed: int = 0,
        device=None) -> tuple[Model, dict]:
    """Train on ``loaders['train']`` with early stopping on ``loaders['val']``'s ROC-AUC.

    Stops after ``patience`` epochs without a new best validation AUC (or at ``max_epochs``)
    and restores the weights of the best epoch. The history holds per-epoch ``loss``,
    ``val_auc`` and ``seconds`` (training time), and ``best_epoch`` (1-based).
    """
    device = device or torch_device()
    torch.manual_seed(seed)
    model = build_model(graph, hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, best = train_with_early_stopping(
        lambda: train_epoch(model, loaders["train"], optimizer, device),
        lambda: roc_auc(*predict(model, loaders["val"], device)),
        lambda: copy.deepcopy(model.state_dict()),
        max_epochs=max_epochs, patience=patience, desc="PyG SAGE")
    model.load_state_dict(best)
    return model, history


# --------------------------------------------------------------------------------------------------
# Full-graph embeddings: parity checks and recommendations
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def embed_all(model: Model, data: HeteroData, device=None) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, H], z_movie [M, H])`` over the whole graph ``data`` (no sampling)."""
    device = device or torch_device()
    model.eval()
    z = model.to(device).embed(data.to(device))
    return z["user"].cpu().numpy(), z["movie"].cpu().numpy()


def numpy_weights(model: Model) -> dict[str, np.ndarray]:
    """The model's weights as numpy arrays under PyG's own names (``model.state_dict()``).

    :func:`course_lib.jax.sage.params_from_pyg` turns this into flax parameters.
    """
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
