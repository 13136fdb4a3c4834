"""What the numbers were measured on: CPU model, cores, relevant ISA flags, package versions."""
from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import runtimes

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni", "fma")
# recorded besides the runtimes' own packages (the registry's): what converts, and what every run stands on
TOOL_PACKAGES = ("onnx", "onnxsim", "onnx2tf", "numpy", "hydra-core")


def cpu_info() -> dict:
    model, flags = platform.processor(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {"model": model, "cores": os.cpu_count(), "cores_available": len(os.sched_getaffinity(0)),
            "flags": [f for f in FLAGS if f in flags]}


def package_versions(names) -> dict:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict:
    return {"host": platform.node(), "os": f"{platform.system()} {platform.release()}", "cpu": cpu_info(),
            "python": platform.python_version(), "platform": platform.platform(),
            "packages": package_versions((*runtimes.all_packages(), *TOOL_PACKAGES))}
