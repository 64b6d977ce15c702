"""`ddllm export terraform`, read back with python-hcl2 (no `terraform` binary is packaged for
Debian or PyPI, and `terraform validate` would need the provider from Terraform's registry):
the file parses as HCL, pins Datadog's provider, enables percentiles on every distribution the
assets query, and each resource's JSON, with the variables filled in as Terraform would, is
what `ddllm push` sends for the same settings."""

import json
import re

import hcl2
import pytest

from ddllm import catalogue
from ddllm.assets import customize, files as assets, percentiles, terraform, validation
from ddllm.cli.main import main

READ_BACK = hcl2.SerializationOptions(
    strip_string_quotes=True, preserve_heredocs=False, with_comments=False, explicit_blocks=False
)
INTERPOLATION = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}")
CONCAT = re.compile(r"^jsonencode\(concat\((\[.*\]), var\.(\w+)\)\)$")
AUDIENCE = {"ddllm_notify": "@slack-llm-alerts", "ddllm_tags": ["team:llm-platform"]}


def parse(text):
    return hcl2.loads(text, serialization_options=READ_BACK)


def export(capsys, *arguments):
    code = main(["export", "terraform"] + list(arguments))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def variables(document, **values):
    """{name: value}: the defaults, then `values`."""
    found = {}
    for block in document.get("variable", []):
        for name, fields in block.items():
            if "default" in fields:
                found[name] = fields["default"]
    found.update(values)
    return found


def render_template(text, values):
    """A heredoc's text as Terraform makes it: its escapes undone and its few kinds of
    interpolation evaluated (a variable, jsonencode(concat([...], var.x)))."""

    def evaluate(match):
        if match.group(0) == "$${":
            return "${"
        if match.group(0) == "%%{":
            return "%{"
        expression = match.group(1)
        if expression.startswith("var."):
            value = values[expression[4:]]
            return value if isinstance(value, str) else json.dumps(value)
        concat = CONCAT.match(expression)
        assert concat, "unexpected expression ${%s}" % expression
        return json.dumps(json.loads(concat.group(1)) + values[concat.group(2)])

    return INTERPOLATION.sub(evaluate, text)


def resources(document, resource_type):
    """[(name, body)] of one resource type, in file order."""
    return [
        (name, body)
        for block in document["resource"]
        if resource_type in block
        for name, body in block[resource_type].items()
    ]


def asset_documents(document, values):
    """[(resource type, name, JSON)] of the dashboards, monitors and SLOs, variables filled in."""
    found = []
    for block in document["resource"]:
        for resource_type, named in block.items():
            for name, body in named.items():
                for attribute in ("dashboard", "monitor"):
                    if attribute in body:
                        found.append((resource_type, name, json.loads(render_template(body[attribute], values))))
                if resource_type == "datadog_service_level_objective":
                    found.append((resource_type, name, slo_body(body, values)))
    return found


def only(blocks):
    [block] = blocks
    return block


def slo_body(resource, values):
    """The /api/v1/slo body a datadog_service_level_objective resource stands for, as Datadog's
    provider builds it from the resource's arguments and blocks."""
    body = {key: resource[key] for key in ("name", "type", "description")}
    body["tags"] = json.loads(render_template("${jsonencode(%s)}" % resource["tags"][2:-1], values))
    if "query" in resource:
        body["query"] = dict(only(resource["query"]))
    if "sli_specification" in resource:
        time_slice = only(only(resource["sli_specification"])["time_slice"])
        query = only(time_slice["query"])
        body["sli_specification"] = {
            "time_slice": {
                "query": {
                    "formulas": [{"formula": formula["formula_expression"]} for formula in query["formula"]],
                    "queries": [only(item["metric_query"]) for item in query["query"]],
                },
                "comparator": time_slice["comparator"],
                "threshold": time_slice["threshold"],
                "query_interval_seconds": time_slice["query_interval_seconds"],
            }
        }
    body["thresholds"] = resource["thresholds"]
    return body


def as_pushed(notify, tags, app_url, settings=None):
    shipped = customize.apply_settings(assets.load_assets(), settings or {})
    return customize.fill_links(customize.apply_audience(shipped, [notify], tags), app_url)


def test_the_file_parses_as_hcl_and_pins_the_provider(capsys):
    document = parse(export(capsys))
    [terraform_block] = document["terraform"]
    [providers] = terraform_block["required_providers"]
    assert providers["datadog"] == {"source": "DataDog/datadog", "version": terraform.PROVIDER_VERSION}
    assert re.match(r"^~> 3\.\d+$", terraform.PROVIDER_VERSION)


def test_every_asset_is_one_resource_holding_what_push_would_send(capsys):
    document = parse(export(capsys))
    values = variables(document, **AUDIENCE)
    expected = as_pushed(AUDIENCE["ddllm_notify"], AUDIENCE["ddllm_tags"], values["datadog_app_url"])
    found = asset_documents(document, values)
    assert len(found) == len(expected)
    resource_types = {
        assets.DASHBOARD: "datadog_dashboard_json",
        assets.MONITOR: "datadog_monitor_json",
        assets.SLO: "datadog_service_level_objective",
    }
    for asset, (resource_type, _, body) in zip(expected, found):
        assert resource_type == resource_types[asset["kind"]]
        assert body == asset["body"], asset["path"]
    assert [kind for kind, _, _ in found].count("datadog_service_level_objective") == 2


def test_the_slos_read_back_validate_and_keep_the_team_tags(capsys):
    document = parse(export(capsys))
    values = variables(document, **AUDIENCE)
    slos = [
        (name, body)
        for resource_type, name, body in asset_documents(document, values)
        if resource_type == "datadog_service_level_objective"
    ]
    assert [name for name, _ in slos] == ["ddllm_model_group_availability", "ddllm_model_group_latency_p95"]
    for name, body in slos:
        assert body["tags"] == ["source:ddllm", "integration:litellm", "team:llm-platform"]
        asset = {"kind": assets.SLO, "path": name + ".json", "name": body["name"], "body": body}
        assert validation.validate_asset(asset) == [], name


def test_variables_tune_thresholds_and_the_site_and_the_result_still_validates(capsys):
    document = parse(export(capsys))
    values = variables(
        document,
        error_rate_critical=15,
        error_rate_min_volume=50,
        datadog_app_url="https://app.datadoghq.eu",
        **AUDIENCE,
    )
    found = {name: body for _, name, body in asset_documents(document, values)}
    error_rate = found["ddllm_error_rate"]
    assert error_rate["query"].endswith(".as_count(), 50) > 15")
    assert error_rate["options"]["thresholds"]["critical"] == 15
    assert "](https://app.datadoghq.eu/dashboard/lists?q=" in error_rate["message"]
    expected = as_pushed(
        AUDIENCE["ddllm_notify"],
        AUDIENCE["ddllm_tags"],
        "https://app.datadoghq.eu",
        {"error_rate.critical": 15, "error_rate.min_volume": 50},
    )
    assert error_rate == next(asset["body"] for asset in expected if asset["path"].endswith("error_rate.json"))
    # Validated as written (relative links): only the filled-in site link differs.
    asset = {"kind": assets.MONITOR, "path": "error_rate.json", "name": error_rate["name"], "body": error_rate}
    errors = [finding for finding in validation.validate_asset(asset) if finding.severity == validation.ERROR]
    assert [finding.message for finding in errors if "link to one Datadog site" not in finding.message] == []


def test_every_threshold_is_a_variable_defaulting_to_the_file(capsys):
    document = parse(export(capsys))
    defaults = variables(document)
    shipped = customize.thresholds(assets.load_assets())
    assert len(shipped) >= 8 * 4
    for name, value, _ in shipped:
        assert defaults[terraform.variable_name(name)] == value, name


def test_the_team_handle_and_tags_have_no_default(capsys):
    document = parse(export(capsys))
    declared = {name: fields for block in document["variable"] for name, fields in block.items()}
    for name in ("ddllm_notify", "ddllm_tags"):
        assert "default" not in declared[name]
    text = export(capsys)
    assert customize.PLACEHOLDER_HANDLE not in text.replace("(replaces %s)" % customize.PLACEHOLDER_HANDLE, "")
    assert '"%s"' % customize.PLACEHOLDER_TAG not in text


def test_percentiles_are_enabled_on_every_distribution_queried(capsys):
    document = parse(export(capsys))
    configured = {body["metric_name"]: body for _, body in resources(document, "datadog_metric_tag_configuration")}
    assert sorted(configured) == sorted(catalogue.DISTRIBUTIONS)
    for name, body in configured.items():
        assert body["metric_type"] == "distribution"
        assert body["include_percentiles"] is True
        # A deny-list of one tag key nothing sends: every tag stays queryable (Terraform's provider
        # refuses exclude_tags_mode without tags).
        assert body["exclude_tags_mode"] is True
        assert body["tags"] == [percentiles.EXCLUDES_NO_TAG]
        assert not set(body["tags"]) & set(catalogue.metric_tag_keys(name))


def test_a_dashboard_alone_needs_no_monitor_variables(capsys):
    dashboard = assets.shipped_asset_paths(kinds=(assets.DASHBOARD,))
    document = parse(export(capsys, *dashboard))
    assert "variable" not in document
    assert len(resources(document, "datadog_metric_tag_configuration")) == len(catalogue.DISTRIBUTIONS)


def test_resource_names_are_unique_terraform_identifiers(capsys):
    document = parse(export(capsys))
    names = [name for block in document["resource"] for named in block.values() for name in named]
    assert len(set(names)) == len(names)
    assert all(re.match(r"^[a-z_][a-z0-9_-]*$", name) for name in names)


def test_output_is_deterministic(capsys):
    assert export(capsys) == export(capsys)


def test_output_file(capsys, tmp_path):
    target = tmp_path / "ddllm.tf"
    code = main(["export", "terraform", "--output", str(target)])
    _, err = capsys.readouterr()
    assert code == 0
    assert "%d resources written to %s" % (len(assets.load_assets()) + len(catalogue.DISTRIBUTIONS), target) in err
    document = parse(target.read_text())
    assert len(asset_documents(document, variables(document, **AUDIENCE))) == len(assets.load_assets())


@pytest.mark.parametrize("extra", [" ${not_a_variable} %{ if x }"])
def test_template_syntax_in_a_message_is_escaped_and_same_file_names_stay_unique(tmp_path, extra):
    monitor = next(asset for asset in assets.load_assets() if asset["kind"] == assets.MONITOR)
    body = dict(monitor["body"], message=monitor["body"]["message"] + extra)
    first = dict(monitor, body=body, path=str(tmp_path / "a" / "same.json"))
    second = dict(monitor, path=str(tmp_path / "b" / "same.json"))
    text = terraform.render([first, second], "test")
    assert "$${not_a_variable} %%{ if x }" in text
    document = parse(text)
    found = asset_documents(document, variables(document, **AUDIENCE))
    assert [name for _, name, _ in found] == ["ddllm_same", "ddllm_same_2"]
    assert found[0][2]["message"].endswith("@slack-llm-alerts" + extra)
