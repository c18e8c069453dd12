"""A failure as the HTTP API tells it: a status, a code a program can test, and the one line
the CLI prints (``sdactors.node.failures``). The JSON API and GraphQL say it the same way."""

from __future__ import annotations

from sdactors.node.failures import failure
from sdactors.runtime import errors

# Status codes by the kind of failure; anything else of ours is 400, a bug 500.
_STATUS: dict[type[BaseException], tuple[int, str]] = {
    errors.InvalidArgument: (400, "invalid_argument"),
    errors.NoLibrary: (404, "no_library"),
    errors.NotIndexed: (404, "not_indexed"),
    errors.LocationNotFound: (404, "location_not_found"),
    errors.TagNotFound: (404, "tag_not_found"),
    errors.LibraryExists: (409, "library_exists"),
    errors.TagExists: (409, "tag_exists"),
    errors.LocationExists: (409, "location_exists"),
    errors.DestinationExists: (409, "destination_exists"),
    errors.LibraryLocked: (409, "library_locked"),
    errors.NotOwner: (403, "not_owner"),
}


def http_failure(exc: BaseException) -> tuple[int, str, str]:
    """``(status, code, message)`` of a failed request."""
    kind, message, expected = failure(exc)
    status, code = 500, "internal"
    if expected:
        status, code = 400, _snake(kind)
        for cls in type(exc).__mro__:
            if cls in _STATUS:
                status, code = _STATUS[cls]
                break
    return status, code, message


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
