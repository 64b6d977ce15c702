"""The dashboards, monitors and SLOs ddllm ships, found and loaded as plain dicts.

An installed wheel carries them beside this module, in `dashboards/*.json`,
`monitors/*.json` and `slos/*.json` below `ddllm/assets/` (build_commands.py copies them
there); a source checkout, an editable install included, has them at the repository root, in
`dashboards/`, `monitors/` and `slos/`. The installed copy wins when both exist, so `ddllm
push` sends what was installed, not whatever is in the cwd.

Each asset is a dict: `kind` ("dashboard", "monitor" or "slo"), `path`, `name` (the
dashboard's title, the monitor's or SLO's name) and `body` (the JSON, the body of Datadog's
create call).
"""

import glob
import json
import os

DASHBOARD = "dashboard"
MONITOR = "monitor"
SLO = "slo"
KINDS = (DASHBOARD, MONITOR, SLO)  # the order push creates them in: SLOs after the monitors
FOLDER_OF_KIND = {DASHBOARD: "dashboards", MONITOR: "monitors", SLO: "slos"}
KIND_OF_FOLDER = {folder: kind for kind, folder in FOLDER_OF_KIND.items()}
# What `ddllm validate` and `ddllm push` need beyond ddllm (its `assets` extra), said so that
# it works as written from an installed wheel and from a checkout alike.
INSTALL_ASSETS_EXTRA = "pip install 'datadog-api-client>=2.20' (ddllm's `assets` extra)"

INSTALLED_ASSETS_DIR = os.path.dirname(os.path.abspath(__file__))  # ddllm/assets/
SOURCE_CHECKOUT_DIR = os.path.dirname(os.path.dirname(INSTALLED_ASSETS_DIR))


class AssetError(Exception):
    """A file that is not a readable dashboard, monitor or SLO; `path` names it."""

    def __init__(self, path, message):
        super().__init__("%s: %s" % (path, message))
        self.path = path
        self.message = message


def shipped_asset_dirs():
    """{kind: folder} of the shipped assets: the installed copy, else the source checkout's."""
    for root in (INSTALLED_ASSETS_DIR, SOURCE_CHECKOUT_DIR):
        folders = {kind: os.path.join(root, FOLDER_OF_KIND[kind]) for kind in KINDS}
        if any(glob.glob(os.path.join(folder, "*.json")) for folder in folders.values()):
            return folders
    return {}


def shipped_asset_paths(kinds=KINDS):
    """Paths of the shipped JSON files of the given kinds, in the order of KINDS, sorted by name."""
    folders = shipped_asset_dirs()
    paths = []
    for kind in KINDS:
        if kind in kinds and kind in folders:
            paths.extend(sorted(glob.glob(os.path.join(folders[kind], "*.json"))))
    return paths


def expand_paths(paths):
    """Files named, and the *.json files in (and below) folders named, in order; a missing
    path raises."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(sorted(glob.glob(os.path.join(path, "**", "*.json"), recursive=True)))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise AssetError(path, "no such file or folder")
    return files


def classify(path, body):
    """ "dashboard", "monitor" or "slo": by the keys of the body, else by the folder it is in."""
    if isinstance(body, dict):
        if "widgets" in body or "layout_type" in body:
            return DASHBOARD
        # An SLO's query is an object (numerator, denominator), a monitor's a string.
        if (
            "sli_specification" in body
            or isinstance(body.get("query"), dict)
            or isinstance(body.get("thresholds"), list)
        ):
            return SLO
        if "query" in body and "type" in body:
            return MONITOR
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    kind = KIND_OF_FOLDER.get(folder)
    if kind is None:
        raise AssetError(
            path,
            "neither a dashboard (no `widgets`/`layout_type`), a monitor (no `query` and `type`) nor an SLO (no "
            "`sli_specification`, `query` object or `thresholds` list), and not in a dashboards/, monitors/ or "
            "slos/ folder",
        )
    return kind


def read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise AssetError(path, "cannot read: %s" % (error.strerror or error))
    except UnicodeDecodeError as error:
        raise AssetError(path, "not UTF-8 text: %s" % error)
    try:
        return json.loads(text)
    except ValueError as error:
        raise AssetError(path, "not valid JSON: %s" % error)


def load_asset(path):
    body = read_json(path)
    kind = classify(path, body)
    if not isinstance(body, dict):
        raise AssetError(path, "a %s must be a JSON object, not %s" % (kind, type(body).__name__))
    name = body.get("title") if kind == DASHBOARD else body.get("name")
    return {"kind": kind, "path": path, "name": name, "body": body}


def load_assets(paths=None, kinds=KINDS):
    """The assets in `paths` (files or folders; default: the shipped ones) of the given kinds."""
    files = shipped_asset_paths(kinds) if not paths else expand_paths(paths)
    assets = [load_asset(path) for path in files]
    return [asset for asset in assets if asset["kind"] in kinds]


def display_path(path):
    """`path` relative to the cwd when it is below it: shorter lines, same meaning."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith(os.pardir) else relative
