"""The operator CLI `clm`: the local stack, demo data, model fits, DLQ, customers, replays."""
