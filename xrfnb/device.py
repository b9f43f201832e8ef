"""Which compute device a run uses, and how to name it in the run record."""

from __future__ import annotations

import os
import platform


def torch_device(want: str = "auto") -> str:
    """'cuda' when asked for (or 'auto' and one is present), else 'cpu'; a clear error if cuda is missing."""
    import torch

    if want == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if want == "cuda":
        raise RuntimeError("this profile needs a CUDA GPU but torch sees none; "
                           "run the 'smoke' profile on CPU or use a GPU machine")
    return "cpu"


#: Set by the runner in the kernels it starts: the hardware's name as the runner found it (`describe`).
DESCRIBED = "XRFNB_DEVICE"


def describe() -> str:
    """A human name for the hardware: the GPU's name, or the CPU model and core count (in a kernel the
    runner started, the name the runner found, without importing torch again)."""
    if os.environ.get(DESCRIBED):
        return os.environ[DESCRIBED]
    try:
        import torch

        if torch.cuda.is_available():
            n = torch.cuda.device_count()
            return f"{n} x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {model} ({os.cpu_count()} cores)"
