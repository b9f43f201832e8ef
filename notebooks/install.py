"""Install the companion where a notebook opens in a Python without it (Colab, a bare Jupyter), then work
from its notebooks/ folder. Every notebook's first cell runs this file (read beside the notebook, or
fetched from the repository when the notebook was opened alone) only where `xrfnb` is not importable;
where it is installed (make install, Binder, the runner) nothing runs.

The checkout is the one around this notebook, else a fresh clone into ./xrfnb; pip installs it without
the lock (in Colab the lock would replace Colab's own CUDA build of PyTorch).
"""

import os
import subprocess
import sys

repo = os.path.abspath("..") if os.path.exists("../pyproject.toml") else os.path.abspath("xrfnb")
if not os.path.exists(os.path.join(repo, "pyproject.toml")):
    subprocess.run(["git", "clone", "--depth", "1", "https://github.com/xrfnb/xrfnb", repo], check=True)
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", repo], check=True)
os.chdir(os.path.join(repo, "notebooks"))
