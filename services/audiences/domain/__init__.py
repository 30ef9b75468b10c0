"""The audiences domain: the filter language and membership changes, pure."""
