"""The one exception a user can cause: caught in ``main``, printed as one sentence, exit code 2."""


class UserError(Exception):
    """A request that cannot be carried out: a missing file, a bad flag, an unsupported source.

    The message is one plain sentence saying what went wrong and how to fix it.
    """
