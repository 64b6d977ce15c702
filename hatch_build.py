"""An editable install (`pip install -e .`) keeps the start-up hook.

For an editable wheel hatchling takes `force_include_editable` instead of the wheel's
force-include: only `ddllm.pth` then, since the package and its JSON are read from the
checkout. Hatchling's own path file (`_ddllm.pth`) sorts before it, so the checkout is on
sys.path when `ddllm.pth` imports `ddllm._startup`.
"""
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class StartupHookInEditableInstalls(BuildHookInterface):
    def initialize(self, version, build_data):
        if version == "editable":
            build_data["force_include_editable"] = {"ddllm.pth": "ddllm.pth"}
