"""The run's artifacts by name and what each was converted from: the one place parents and ancestors are looked up
(the parity check's localisation, the benchmark's profile join, which artifacts the table keeps)."""
from __future__ import annotations

from core.artifact import Artifact


class ArtifactGraph:
    def __init__(self) -> None:
        self._artifacts: dict[str, Artifact] = {}  # in the order they were made
        self._parents: dict[str, str] = {}  # artifact -> the artifact it was converted from

    def add(self, artifact: Artifact, parent: str | None = None) -> None:
        """`artifact`, converted from the artifact named `parent` (None: the source)."""
        self._artifacts[artifact.name] = artifact
        if parent is not None:
            self._parents[artifact.name] = parent

    def __getitem__(self, name: str) -> Artifact:
        return self._artifacts[name]

    def __contains__(self, name: str) -> bool:
        return name in self._artifacts

    def artifacts(self) -> list[Artifact]:
        return list(self._artifacts.values())

    def parent(self, name: str) -> Artifact | None:
        return self._artifacts.get(self._parents.get(name, ""))

    def ancestors(self, name: str) -> list[Artifact]:
        """What `name` was converted from, nearest first, back to the source."""
        found, parent = {}, self.parent(name)
        while parent is not None and parent.name not in found:  # a name met twice would be a cycle: stop
            found[parent.name] = parent
            parent = self.parent(parent.name)
        return list(found.values())

    def onnx_ancestor(self, name: str, among: set[str] | None = None) -> Artifact | None:
        """The nearest ONNX ancestor of `name` (only those named in `among`, when given)."""
        return next((a for a in self.ancestors(name) if a.format == "onnx" and (among is None or a.name in among)),
                    None)

    def onnx_source(self, name: str) -> Artifact | None:
        """The ONNX file an artifact was made from: itself when it is one, else its nearest ONNX ancestor."""
        own = self._artifacts.get(name)
        return own if own is not None and own.format == "onnx" else self.onnx_ancestor(name)

    def superseded(self, keep: str) -> set[str]:
        """Artifacts a child of the same format and precision supersedes (the raw export, when a simplified ONNX was
        made from it); never `keep` (the source). A lower-precision child keeps its parent."""
        gone = set()
        for name, artifact in self._artifacts.items():
            parent = self.parent(name)
            if parent and (parent.format, parent.precision) == (artifact.format, artifact.precision):
                gone.add(parent.name)
        return gone - {keep}
