"""grid-portrait: customer portraits and tags for electricity distribution utilities."""

__version__ = "0.1.0"
__all__ = ["open_store", "__version__"]


def __getattr__(name: str):
    # `open_store` is imported on first use, so `import pipeline` (and the CLI) stays fast.
    if name == "open_store":
        from pipeline.api import open_store

        return open_store
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
