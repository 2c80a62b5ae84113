"""grid-portrait: customer portraits and tags for electricity distribution utilities."""

__version__ = "0.1.0"
