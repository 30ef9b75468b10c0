"""Audiences: segments of customers over lifecycle state and scores, kept current."""
