"""Segment models used by the segments stage: DISC-style types, load shapes and the k-means machinery they share."""
