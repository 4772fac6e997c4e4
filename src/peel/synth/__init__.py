"""A synthetic city with the answers written down (`peel synth`).

Only `peel.synth` itself, the CLI and the `evaluate` modules may import this package or read
`truth/`; the import contract enforces it for analysis code.
"""

from peel.synth.generate import generate
from peel.synth.params import GENERATOR_VERSION, Params, build_params

__all__ = ["GENERATOR_VERSION", "Params", "build_params", "generate"]
