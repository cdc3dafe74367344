"""Post-deploy smoke check: run a configured command on the target with the new weights.

The command is a template from the config (trusted); only these placeholders are filled, each
value passed through ``shlex.quote`` so no path, model name or version can inject shell code:

  {weights}         the path just deployed
  {ssd_weights}     the configured SSD path on the target
  {resnet_weights}  the configured ResNet34 path on the target
  {sample}          the sample screenshot on the target
  {model}           the model being deployed (ssd | resnet34)
  {version}         the registered version being deployed

``${VAR}`` shell expansions are left alone. An unknown ``{name}`` is an error listing the valid ones.
"""
from __future__ import annotations

import re
import shlex
from typing import Callable, Mapping

from gaa_mlops.deploy.targets import DeployError, Target

PLACEHOLDERS = ("weights", "ssd_weights", "resnet_weights", "sample", "model", "version")
_FIELD = re.compile(r"(?<!\$)\{(\w+)\}")


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill ``{name}`` placeholders with shell-quoted values."""
    unknown = sorted({m.group(1) for m in _FIELD.finditer(template)} - set(values))
    if unknown:
        raise DeployError(f"smoke command uses unknown placeholder(s) {unknown}; valid: {sorted(values)}")
    return _FIELD.sub(lambda m: shlex.quote(str(values[m.group(1)])), template)


def make_smoke(target: Target, command: str, values: Mapping[str, object], timeout_s: float = 120.0,
               echo: Callable[[str], None] = print) -> Callable[[], "tuple[bool, str]"]:
    """A callable for ``deploy_file(smoke=...)``: True when the command exits 0."""
    line = render(command, values)

    def smoke() -> "tuple[bool, str]":
        echo(f"smoke check: {line}")
        rc, out = target.run(line, timeout=timeout_s)
        return rc == 0, f"exit status {rc}\n{out}"

    return smoke
