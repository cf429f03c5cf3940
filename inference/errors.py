"""One exception family; the web side turns any InferenceError into a failed job."""


class InferenceError(Exception):
    """Base of every error raised on purpose by `inference` (and `training`)."""


class BundleError(InferenceError):
    """The model bundle is missing, malformed, unsafe or inconsistent."""


class InvalidVolumeError(InferenceError):
    """The input volume cannot be processed (empty, NaN/inf, bad spacing, too large...)."""


class InferenceCancelled(InferenceError):
    """`should_cancel()` returned True; no partial result is returned."""
