"""Each topic's message defined once: model, encoder and decoder, used by its producer, its
consumers and the AsyncAPI generator (deploy/asyncapi.py)."""
