"""Build hooks that setup.cfg cannot express.

- `ddllm.pth` goes to the root of site-packages: it is the start-up hook that lets
  `ddtrace-run` instrument LiteLLM with no change to the application.
- `dashboards/` and `monitors/` ship inside the package (`ddllm/assets/`), so
  `ddllm validate` and `ddllm push` work from a plain `pip install`.
"""
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
STARTUP_HOOK = "ddllm.pth"
ASSET_FOLDERS = ("dashboards", "monitors")


class BuildWithStartupHookAndAssets(build_py):
    def run(self):
        super().run()
        shutil.copy(os.path.join(HERE, STARTUP_HOOK), os.path.join(self.build_lib, STARTUP_HOOK))
        for folder in ASSET_FOLDERS:
            target = os.path.join(self.build_lib, "ddllm", "assets", folder)
            os.makedirs(target, exist_ok=True)
            for path in glob.glob(os.path.join(HERE, folder, "*.json")):
                shutil.copy(path, target)

    def get_outputs(self, include_bytecode=True):
        outputs = list(super().get_outputs(include_bytecode))
        outputs.append(os.path.join(self.build_lib, STARTUP_HOOK))
        return outputs


setup(cmdclass={"build_py": BuildWithStartupHookAndAssets})
