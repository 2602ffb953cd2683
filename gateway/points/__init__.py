"""Points (积分): the ledger's reads and moves, points exchange, and their scheduled work."""
