"""setuptools commands (setup.cfg's `cmdclass`) for what is not a module of the package.

- `ddllm.pth`, the start-up hook that lets `ddtrace-run` instrument LiteLLM with no change to
  the application, goes to the root of site-packages, in every kind of install.
- The JSON assets (`dashboards/`, `monitors/`, `slos/`: those that exist) go inside the
  package, as `ddllm/assets/<folder>/*.json`, so that `ddllm validate` and `ddllm push` work
  from a plain install. MANIFEST.in puts them in the sdist.
"""

import glob
import os

from setuptools.command.build_py import build_py

STARTUP_HOOK = "ddllm.pth"
ASSET_FOLDERS = ("dashboards", "monitors", "slos")
INSTALLED_ASSETS_PACKAGE_DIR = os.path.join("ddllm", "assets")


class BuildPyWithStartupHookAndAssets(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            # An editable wheel holds what lands in the install command's directory (the
            # unpacked wheel), not build_lib; the package and its JSON are read from the
            # checkout. setuptools' own `__editable__.*.pth` sorts before `ddllm.pth`, so the
            # checkout is importable when the hook imports `ddllm._startup`.
            install_dir = self.get_finalized_command("install").install_lib
            self.copy_file(STARTUP_HOOK, os.path.join(install_dir, STARTUP_HOOK))
            return
        for target, source in self._files_beside_the_modules():
            self.mkpath(os.path.dirname(target))
            self.copy_file(source, target)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if not self.editable_mode:
            outputs += [target for target, _ in self._files_beside_the_modules()]
        return outputs

    def _files_beside_the_modules(self):
        """(target in build_lib, source in the checkout) of the hook and the JSON assets."""
        yield os.path.join(self.build_lib, STARTUP_HOOK), STARTUP_HOOK
        for folder in ASSET_FOLDERS:
            for source in sorted(glob.glob(os.path.join(folder, "*.json"))):
                target = os.path.join(self.build_lib, INSTALLED_ASSETS_PACKAGE_DIR, folder, os.path.basename(source))
                yield target, source
