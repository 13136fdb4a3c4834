"""onnxsim, imported without torch. onnxsim 0.8.1's package import loads torch only to probe for its optional PPQ
integration, which no step here uses, and torch's import is most of a simplify step's start-up. With torch hidden
for that import the probe fails as it does wherever PPQ is missing; what `simplify` returns does not change (a test
compares the bytes). torch stays importable afterwards."""
from __future__ import annotations

import sys


def import_onnxsim():
    if "onnxsim" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None  # `import torch` raises ImportError while this is set
        try:
            import onnxsim  # noqa: F401
        finally:
            if "torch" in sys.modules and sys.modules["torch"] is None:
                del sys.modules["torch"]
    import onnxsim

    return onnxsim
