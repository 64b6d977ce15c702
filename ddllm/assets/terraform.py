"""`ddllm export terraform [--output FILE] [PATH...]`: ddllm's dashboards, monitors and SLOs as
Terraform resources of Datadog's provider (`datadog_dashboard_json`, `datadog_monitor_json`,
`datadog_service_level_objective`, see ddllm.assets.terraform_slos), with percentiles enabled
on the distributions they query (`datadog_metric_tag_configuration`, a deny-list that hides no
tag), for teams that manage Datadog with Terraform instead of `ddllm push`.

Each asset's JSON goes into a heredoc as it is in the file, so `terraform plan` compares the
same JSON that `ddllm validate` checked, except for what a team sets through variables, as
`ddllm push` takes them on its command line: every monitor threshold (`NAME` of
ddllm.assets.customize with `_` for `.`, defaulting to the file's value), who the monitors
notify (`ddllm_notify`) and their team tags (`ddllm_tags`, the SLOs' too), both without
default so the placeholders never go out, and the site the messages link to (`datadog_app_url`). The provider
version is pinned. Output is deterministic: same assets, same text.
"""

import copy
import json
import os
import re
import sys

from ddllm.assets import customize, percentiles, terraform_slos
from ddllm.assets.files import DASHBOARD, MONITOR, SLO, AssetError, load_assets
from ddllm.assets.queries import minimum_volume, parse_monitor_query, replace_spans

RESOURCE_TYPES = {DASHBOARD: ("datadog_dashboard_json", "dashboard")}
MONITOR_RESOURCE = ("datadog_monitor_json", "monitor")
HEREDOC_MARKER = "EOT"
# >= 3.75, < 4: datadog_metric_tag_configuration with exclude_tags_mode and the JSON resources.
PROVIDER_VERSION = "~> 3.75"
NOTIFY_VARIABLE = "ddllm_notify"
TAGS_VARIABLE = "ddllm_tags"
APP_URL_VARIABLE = "datadog_app_url"
# Stands for the Terraform expression number N while the body is JSON text.
SLOT = "@@ddllm-terraform-%d@@"
SLOT_PATTERN = re.compile(r'"@@ddllm-terraform-(\d+)@@"|@@ddllm-terraform-(\d+)@@')


def resource_type_and_attribute(kind):
    return RESOURCE_TYPES.get(kind, MONITOR_RESOURCE)


def resource_name(asset, taken):
    """A Terraform identifier from the file's name, unique among `taken` (which it joins)."""
    stem = os.path.splitext(os.path.basename(asset["path"]))[0]
    name = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_") or asset["kind"]
    if not name.startswith("ddllm"):
        name = "ddllm_" + name
    unique, number = name, 2
    while unique in taken:
        unique, number = "%s_%d" % (name, number), number + 1
    taken.add(unique)
    return unique


def variable_name(threshold_name):
    return re.sub(r"[^a-z0-9_]+", "_", threshold_name.lower())


def escape_template(text):
    """Terraform reads `${` and `%{` in a heredoc as template syntax: `$${` and `%%{` are literal."""
    return text.replace("${", "$${").replace("%{", "%%{")


def _tags_expression(tags):
    """The HCL of a tag list: with the team's tags variable instead of the placeholder."""
    tags = list(tags or [])
    kept = json.dumps([tag for tag in tags if tag != customize.PLACEHOLDER_TAG]).replace('","', '", "')
    return "concat(%s, var.%s)" % (kept, TAGS_VARIABLE) if customize.PLACEHOLDER_TAG in tags else kept


def _hcl_string(text):
    return escape_template(json.dumps(text, ensure_ascii=False))


def _with_slots(asset, threshold_variables, expressions):
    """The monitor's body with SLOTs where Terraform expressions go (appended to `expressions`):
    thresholds, who it notifies, its tags, the site of its links."""

    def slot(expression):
        expressions.append(expression)
        return SLOT % (len(expressions) - 1)

    body = copy.deepcopy(asset["body"])
    key = customize.monitor_key(asset)
    levels = (body.get("options") or {}).get("thresholds") or {}
    replacements = []
    query = parse_monitor_query(body["query"])
    for level in customize.THRESHOLD_LEVELS:
        name = "%s.%s" % (key, level)
        if name in threshold_variables:
            levels[level] = slot("var." + threshold_variables[name])
            if level == "critical":
                replacements.append((query.threshold_span, slot("var." + threshold_variables[name])))
    guard = minimum_volume(query)
    name = "%s.%s" % (key, customize.MIN_VOLUME)
    if guard is not None and name in threshold_variables:
        replacements.append((guard[1], slot("var." + threshold_variables[name])))
    body["query"] = replace_spans(body["query"], replacements)
    message = (body.get("message") or "").replace(customize.PLACEHOLDER_HANDLE, slot("var." + NOTIFY_VARIABLE))
    app_url = slot("var." + APP_URL_VARIABLE)
    body["message"] = customize.RELATIVE_LINK.sub(lambda match: "](%s%s)" % (app_url, match.group(1)), message)
    tags = body.get("tags")
    if isinstance(tags, list) and customize.PLACEHOLDER_TAG in tags:
        body["tags"] = slot("jsonencode(%s)" % _tags_expression(tags))
    return body


def _document(asset, threshold_variables):
    expressions = []
    body = _with_slots(asset, threshold_variables, expressions) if asset["kind"] == MONITOR else asset["body"]
    text = escape_template(json.dumps(body, indent=2, ensure_ascii=False))
    # A slot that was a whole JSON value loses its quotes; one inside a string keeps the string's.
    return SLOT_PATTERN.sub(lambda match: "${%s}" % expressions[int(match.group(1) or match.group(2))], text)


def _variable(name, variable_type, description, default=None):
    lines = [
        'variable "%s" {' % name,
        "  type        = %s" % variable_type,
        "  description = %s" % json.dumps(description),
    ]
    if default is not None:
        lines.append("  default     = %s" % json.dumps(default))
    return lines + ["}"]


def render(assets, version):
    lines = [
        "# Generated by `ddllm export terraform` (ddllm %s): ddllm's dashboards, monitors and SLOs, and" % version,
        "# percentiles on the distribution metrics they query. Datadog's provider takes its keys from",
        '# DD_API_KEY / DD_APP_KEY and its site from DD_HOST (or a provider "datadog" block).',
        "# Regenerate rather than edit: the JSON files are the source; tune through the variables.",
        "# A metric that already has a tag configuration must be imported first:",
        "#   terraform import datadog_metric_tag_configuration.NAME METRIC_NAME",
        "",
        "terraform {",
        "  required_providers {",
        "    datadog = {",
        '      source  = "DataDog/datadog"',
        '      version = "%s"' % PROVIDER_VERSION,
        "    }",
        "  }",
        "}",
    ]
    monitors = [asset for asset in assets if asset["kind"] == MONITOR]
    team_tagged = [asset for asset in assets if customize.PLACEHOLDER_TAG in (asset["body"].get("tags") or [])]
    threshold_variables = {}
    if monitors:
        lines += [""] + _variable(
            NOTIFY_VARIABLE,
            "string",
            'Who the monitors notify, e.g. "@slack-llm-alerts '
            '@pagerduty-llm" (replaces %s).' % customize.PLACEHOLDER_HANDLE,
        )
    if monitors or team_tagged:
        lines += [""] + _variable(
            TAGS_VARIABLE,
            "list(string)",
            "The monitors' and SLOs' team tags, e.g. [\"team:llm-platform\"] (replace %s)." % customize.PLACEHOLDER_TAG,
        )
    if monitors:
        lines += [""] + _variable(
            APP_URL_VARIABLE,
            "string",
            "The web app of your Datadog site, for the links "
            "in monitor messages: https://app.datadoghq.eu, https://us5.datadoghq.com, ...",
            customize.app_url(customize.DEFAULT_SITE),
        )
        for name, default, _ in customize.thresholds(monitors):
            if name in threshold_variables:  # two files of the same name in different folders
                continue
            threshold_variables[name] = variable_name(name)
            lines += [""] + _variable(
                variable_name(name),
                "number",
                "Monitor threshold %s (ddllm push --set %s=VALUE)." % (name, name),
                default,
            )
    for metric_name in percentiles.distributions_queried(assets):
        attributes = percentiles.deny_list_attributes()
        lines += [
            "",
            "# Percentiles (p50, p95, p99) of %s for the widgets and monitors that query them, through a" % metric_name,
            "# deny-list that excludes no tag: every tag sent with the metric stays queryable.",
            'resource "datadog_metric_tag_configuration" "%s" {' % variable_name(metric_name),
            "  metric_name         = %s" % json.dumps(metric_name),
            "  metric_type         = %s" % json.dumps(attributes["metric_type"]),
            "  tags                = %s" % json.dumps(attributes["tags"]).replace('","', '", "'),
            "  exclude_tags_mode   = true",
            "  include_percentiles = true",
            "}",
        ]
    taken = set()
    for asset in assets:
        if asset["kind"] == SLO:
            lines += ["", "# slo: %s" % asset["name"]] + terraform_slos.resource_lines(
                asset["body"], resource_name(asset, taken), _tags_expression(asset["body"].get("tags")), _hcl_string
            )
            continue
        resource_type, attribute = resource_type_and_attribute(asset["kind"])
        document = _document(asset, threshold_variables)
        if re.search(r"^\s*%s\s*$" % HEREDOC_MARKER, document, re.MULTILINE):
            raise AssetError(asset["path"], "a line of its JSON reads %s, which would end the heredoc" % HEREDOC_MARKER)
        lines += [
            "",
            "# %s: %s" % (asset["kind"], asset["name"]),
            'resource "%s" "%s" {' % (resource_type, resource_name(asset, taken)),
            "  %s = <<%s" % (attribute, HEREDOC_MARKER),
            document,
            HEREDOC_MARKER,
            "}",
        ]
    return "\n".join(lines) + "\n"


def configure_parser(parser):
    parser.description = (
        "Print ddllm's dashboards, monitors and SLOs as datadog_dashboard_json, datadog_monitor_json "
        "and datadog_service_level_objective Terraform resources, with variables for the thresholds, "
        "handles and tags, and datadog_metric_tag_configuration resources that enable percentiles."
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="JSON files or folders to export (default: the assets ddllm ships)"
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")


def run(args):
    from ddllm import __version__

    try:
        assets = load_assets(args.paths or None)
        text = render(assets, __version__)
    except AssetError as error:
        print("ddllm export terraform: %s" % error, file=sys.stderr)
        return 2
    except ValueError as error:  # a monitor query that does not parse
        print("ddllm export terraform: %s (run ddllm validate)" % error, file=sys.stderr)
        return 2
    if not assets:
        print("ddllm export terraform: no dashboards, monitors or SLOs found", file=sys.stderr)
        return 2
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        print("ddllm export terraform: cannot write %s: %s" % (args.output, error.strerror or error), file=sys.stderr)
        return 2
    print(
        "ddllm export terraform: %d resources written to %s"
        % (len(assets) + len(percentiles.distributions_queried(assets)), args.output),
        file=sys.stderr,
    )
    return 0
