"""Errors the user sees as one line. Anything else is a bug and keeps its traceback."""


class UserError(Exception):
    """Bad input: a config value, a path, a file. The message names the value and what is allowed."""


class StepFailed(Exception):
    """A conversion step failed; the message says which step and why."""


class NotApplicable(Exception):
    """A step cannot make this combination (e.g. bf16 on onnxruntime): recorded with the reason, not a failure."""
