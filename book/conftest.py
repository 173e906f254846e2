"""pytest settings for the notebooks, which nbval runs as tests (see pyproject.toml)."""

# nbval waits at most 5 s for each output message once a cell has finished. A long training cell
# on a loaded 2-core CI machine has exceeded that once (its outputs came late, not wrong).
NBVAL_OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(config, items):
    for item in items:
        if hasattr(item, "output_timeout"):  # nbval's notebook-cell items
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
