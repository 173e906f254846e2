"""course_lib/pyg and course_lib/jax line up file for file, name for name and signature for
signature, so that a reader can put the two side by side. Where they cannot, ALLOWED says why."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "course_lib"
MODULES = sorted(p.stem for p in (ROOT / "pyg").glob("*.py") if p.stem != "__init__")

# (module, name): why the twins differ. "only in pyg"/"only in jax" entries name a public name
# one side lacks; the others name a function whose parameters differ.
_PARITY = ("JAX-only by design: converts the PyG twin's weights into flax parameters, so that "
           "the parity tests start both frameworks from the same weights")
ALLOWED: dict[tuple[str, str], str] = {
    **{(m, "params_from_pyg"): _PARITY for m in ("bpr", "gcmc", "gcn", "graph_tasks", "hetero",
                                                 "sage")},
    ("nn", "node_dropout"): "JAX draws the dropped nodes from an explicit PRNG key; torch from "
                            "its global generator",
    ("graph_tasks", "sample_negative_pairs"): "JAX draws the pairs from an explicit PRNG key; "
                                              "torch from its global generator",
    ("nn", "dropout"): "F.dropout with a faster mask on CPU (torch's bernoulli_ took a fifth of "
                       "a step); flax models use flax.linen.Dropout",
    ("nn", "aggregate"): "the mean or sum over a sparse adjacency, for the flax SAGEConv and "
                         "GraphConv; PyG's own layers aggregate over adj_t themselves",
    ("nn", "relations"): "the per-edge-type adjacencies a GraphsTuple keeps in its globals; "
                         "HeteroData keeps them on its edge stores (adj_t_dict)",
    ("data", "to_heterodata"): "PyG's graph container (HeteroData); JAX's is to_graphstuple",
    ("data", "split_heterodata"): "PyG's per-part graphs; JAX's are split_graphstuple",
    ("data", "to_graphstuple"): "jraph's graph container (GraphsTuple); PyG's is to_heterodata",
    ("data", "split_graphstuple"): "JAX's per-part graphs; PyG's are split_heterodata",
    ("data", "HeteroGraph"): "a pytree counterpart of PyG's HeteroData, which jraph lacks",
    ("data", "movie_offset"): "a GraphsTuple has one node set (users, then movies); HeteroData "
                              "keeps one per type",
    ("graph_tasks", "to_data"): "PyG's graph container (Data); JAX's is to_graphstuple",
    ("graph_tasks", "to_graphstuple"): "jraph's graph container (GraphsTuple); PyG's is to_data",
    ("graph_tasks", "batch_and_pad"): "jit needs static shapes, so JAX pads a batch of graphs; "
                                      "PyG's Batch needs no padding",
    ("hetero", "mean_by_relation"): "chapter 5 shows one relation's mean aggregation with it "
                                    "(a director's genre profile); JAX's SAGE layers aggregate "
                                    "inside nn.SAGEConv",
    ("message_passing", "set_gcn_weights"): "loads numpy weights into PyG's GCNConv; JAX passes "
                                            "them as params (gcn_params)",
    ("message_passing", "gcn_params"): "builds the flax params of one GCN layer from numpy; PyG "
                                       "loads them into the module (set_gcn_weights)",
    ("message_passing", "gcn_layer"): "the layer as a pure function over a GraphsTuple, in "
                                      "jraph's style; PyG's is a MessagePassing module",
    ("nn", "numpy_weights"): "the PyG half of the parity plumbing (params_from_torch is the JAX "
                             "half)",
    ("nn", "params_from_torch"): "the JAX half of the parity plumbing (numpy_weights is the PyG "
                                 "half)",
    ("nn", "flax_path"): "maps PyG weight names to flax paths, for params_from_torch",
    ("nn", "partial_outputs"): "silences HeteroConv's warning for a last layer that updates some "
                               "node types only; flax has no such warning",
    ("nn", "dense"): "nn.Dense with torch.nn.Linear's initialisation; PyG uses Linear itself",
    ("nn", "hetero_conv"): "one convolution per edge type, then a per-destination sum: "
                           "PyG's HeteroConv does this inside the module",
    ("nn", "sum_by_destination"): "the per-destination sum inside PyG's HeteroConv, written "
                                  "out (chapter 5 checks it against HeteroConv)",
    ("sage", "Classifier"): "the PyG model's decoder is a module so that to_hetero can convert "
                            "the encoder alone; the JAX model decodes inline",
    ("sage", "link_loaders"): "PyG trains on sampled subgraphs (LinkNeighborLoader); JAX trains "
                              "full-graph, with no loader",
    ("sage", "add_negatives"): "JAX draws the random negatives itself; PyG's loader adds them",
    **{("sage", name): "PyG's sampler needs pyg-lib or torch-sparse (Colab may lack both); "
                       "JAX trains full-graph and samples nothing"
       for name in ("neighbour_sampler", "require_neighbour_sampler")},
    **{("distributed", name): "DDP wraps a torch module and keeps the copies in step itself "
                              "(the module it wraps, its construction, the process group's "
                              "end, the process's GPU); JAX's step is a function of an "
                              "explicit state"
       for name in ("BPRObjective", "create_ddp", "teardown", "process_device")},
    ("distributed", "create_state"): "JAX's training state (flax TrainState); PyG's is the DDP "
                                     "module and its optimizer (create_ddp)",
    ("distributed", "setup"): "torchrun passes the rendezvous in environment variables and "
                              "PyG picks the backend; jax.distributed.initialize takes the "
                              "coordinator's address and the process count and index",
    ("distributed", "train_step"): "DDP all-reduces inside backward(); the JAX step names its "
                                   "mesh and the all-reduce it runs (data_parallel_grads)",
    **{("distributed", name): "the mesh, the batch placed on it and the collective written "
                              "out: JAX's data parallelism is explicit; DDP does these inside"
       for name in ("make_mesh", "shard_batch", "data_parallel_grads")},
    **{("distributed", name): "JAX's row-sharded step is one jitted program over a mesh "
                              "(shard_map, the blocks placed by NamedSharding, its memory "
                              "read from the compiled program); PyTorch runs one process "
                              "per shard and fit_row_sharded builds its block in place"
       for name in ("memory_per_device", "shard_blocks", "shard_state", "sharded_loss_fn",
                    "sharded_train_step")},
    **{("distributed", name): "a mesh axis's name inside shard_map (JAX) or a process group "
                              "(PyTorch) says over what the collective runs"
       for name in ("gather_rows", "sharded_propagate")},
    ("distributed", "shard_rows"): "one process's rows of the table and block of the "
                                   "adjacency (PyTorch, a process per shard); JAX places "
                                   "every block on the mesh (shard_state, shard_blocks)",
    ("distributed", "sharded_loss"): "PyTorch's loss on one process's rows, called by every "
                                     "process; JAX's is one function over the mesh "
                                     "(sharded_loss_fn)",
    ("serving", "ivf_index"): "the approximate index: faiss's inverted-file index as a PyG "
                              "MIPSKNNIndex; JAX's approx_max_k needs no index",
    ("serving", "exact_top_k"): "jitted retrieval (compiled once per shape); PyG calls "
                                "torch.topk inside Recommender._top_k",
    ("serving", "approx_top_k"): "jitted approx_max_k; PyG searches the faiss index inside "
                                 "Recommender._top_k",
}


def test_pyg_and_jax_modules_line_up():
    pyg = sorted(p.name for p in (ROOT / "pyg").glob("*.py"))
    jax = sorted(p.name for p in (ROOT / "jax").glob("*.py"))
    assert pyg == jax


def test_twin_modules_name_their_twin():
    for name in MODULES:
        for side, other in (("pyg", "jax"), ("jax", "pyg")):
            text = (ROOT / side / f"{name}.py").read_text()
            assert f"course_lib/{other}/{name}.py" in text.split('"""')[1], (side, name)


def _public(module) -> dict[str, object]:
    """The functions and classes ``module`` defines (not those it imports), or, where it has
    one, those its ``__all__`` lists (``pyg/nn.py`` re-exports PyG's own layers)."""
    if hasattr(module, "__all__"):
        return {name: getattr(getattr(module, name), "__wrapped__", getattr(module, name))
                for name in module.__all__}
    out = {}
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        fn = getattr(obj, "__wrapped__", obj)  # jax.jit and functools.wraps keep the original
        if (inspect.isfunction(fn) or inspect.isclass(fn)) and fn.__module__ == module.__name__:
            out[name] = fn
    return out


def _parameters(fn) -> list[str]:
    """The parameter names of ``fn`` (the function a ``jax.jit`` wraps), exactly."""
    return list(inspect.signature(inspect.unwrap(fn)).parameters)


def _differences(name: str) -> list[tuple[tuple[str, str], str]]:
    pyg = _public(importlib.import_module(f"course_lib.pyg.{name}"))
    jax = _public(importlib.import_module(f"course_lib.jax.{name}"))
    found = []
    for n in sorted(set(pyg) - set(jax)):
        found.append(((name, n), "only in pyg"))
    for n in sorted(set(jax) - set(pyg)):
        found.append(((name, n), "only in jax"))
    for n in sorted(set(pyg) & set(jax)):
        a, b = pyg[n], jax[n]
        if inspect.isclass(a) != inspect.isclass(b):
            found.append(((name, n), "a class on one side, a function on the other"))
        elif not inspect.isclass(a) and _parameters(a) != _parameters(b):
            found.append(((name, n), f"parameters pyg {_parameters(a)} != jax {_parameters(b)}"))
    return found


@pytest.mark.parametrize("name", MODULES)
def test_twins_have_the_same_public_names_and_signatures(name):
    unexplained = [f"{key}: {what}" for key, what in _differences(name) if key not in ALLOWED]
    assert not unexplained, "twin modules differ (fix, or add to ALLOWED with a reason):\n" + \
        "\n".join(unexplained)


def test_every_allowed_difference_still_exists_and_says_why():
    current = {key for name in MODULES for key, _ in _differences(name)}
    for key, why in ALLOWED.items():
        assert key in current, f"{key} no longer differs: remove it from ALLOWED"
        assert len(why) > 20, f"{key}: say why the twins differ"


# The chapter modules: each trains its models with one fit on the shared loop.
CHAPTERS = ("bpr", "gcmc", "gcn", "hetero", "sage")


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_pair_has_the_training_shape(name):
    from course_lib import settings
    from course_lib.training import Fit

    for side in ("pyg", "jax"):
        module = importlib.import_module(f"course_lib.{side}.{name}")
        for attr in ("SETTINGS", "build_model", "train_step", "eval_step", "fit"):
            assert hasattr(module, attr), (side, name, attr)
        assert inspect.signature(module.fit).return_annotation in (Fit, "Fit"), (side, name)
        assert list(inspect.signature(module.fit).parameters)[:2] == ["graph", "split"]
        assert "overrides" in inspect.signature(module.fit).parameters
        assert "state" == next(iter(inspect.signature(
            inspect.unwrap(module.train_step)).parameters)), (side, name)
    pyg = importlib.import_module(f"course_lib.pyg.{name}")
    jax = importlib.import_module(f"course_lib.jax.{name}")
    # SETTINGS is defined once, in the framework-neutral layer
    assert pyg.SETTINGS is jax.SETTINGS
    assert any(pyg.SETTINGS is value for value in vars(settings).values())


def test_settings_are_defined_only_in_the_settings_module():
    for side in ("pyg", "jax"):
        for path in (ROOT / side).glob("*.py"):
            text = path.read_text()
            assert "SETTINGS = {" not in text and "SETTINGS = dict(" not in text, path
            assert "TRAINING_KEYS" not in text, path
