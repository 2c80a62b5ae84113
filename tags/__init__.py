"""The tag library (用户标签库): one YAML file per category, the loader that checks it, and explanations.

Import `tags.catalog` for the loader and `tags.explain` for explanations over a published store.
This package file imports nothing on purpose: `tags.explain` must stay importable by the dashboard
without pulling in the pipeline.
"""
