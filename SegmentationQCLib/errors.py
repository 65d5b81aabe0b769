"""The one exception type the engine raises for input a user can fix."""


class InputError(ValueError):
    """Bad input: the message is one sentence naming the file and the problem."""
