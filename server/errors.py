"""Errors that carry a message for the user and the gRPC status they map to.

Raised anywhere in the daemon; the services turn them into a status with the message, and the
CLI prints the message as it is. Each message says what is wrong and how to fix it.
"""

import grpc


class UserError(Exception):
    """Bad input from the caller: INVALID_ARGUMENT unless a subclass says otherwise."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(UserError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(UserError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(UserError):
    code = grpc.StatusCode.UNAVAILABLE
