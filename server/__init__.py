"""ltlsp.server: the daemon, its gRPC services, the index, and the thin client and CLI."""

__version__ = "0.1.0"

# The daemon exits with this status when another daemon already holds the lock.
EXIT_ALREADY_RUNNING = 3
