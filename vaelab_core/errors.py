"""The kit's own error type: anything a user can fix, with a message that says how.

The `vaelab` command prints these as one clear line and exits with status 2; any other
exception is a bug in the kit and keeps its traceback.
"""


class VaelabError(Exception):
    """A problem with the user's input or environment, explained in the message."""
