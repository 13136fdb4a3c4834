"""Errors the user sees as one line. Anything else is a bug and keeps its traceback."""


class UserError(Exception):
    """Bad input: a config value, a path, a file. The message names the value and what is allowed."""


class StepFailed(Exception):
    """A conversion step failed; the message says which step and why."""


class NotApplicable(Exception):
    """A step cannot make this combination (e.g. bf16 on onnxruntime): recorded with the reason, not a failure."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message for a one-line report; its type when the message is empty
    (a bare `assert`)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
