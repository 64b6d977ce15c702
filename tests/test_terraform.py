"""`ddllm export terraform`: every asset becomes one resource whose embedded JSON is the asset,
names are unique Terraform identifiers, and the output is the same on every run."""
import json
import re

from ddllm.assets import files as assets, terraform
from ddllm.cli.main import main

RESOURCE = re.compile(
    r'^resource "(?P<type>[a-z_]+)" "(?P<name>[^"]+)" \{\n'
    r"  (?P<attribute>[a-z_]+) = <<(?P<marker>[A-Z]+)\n(?P<document>.*?)\n(?P=marker)\n\}$",
    re.MULTILINE | re.DOTALL,
)


def parse_resources(text):
    """(type, name, attribute, JSON) of each resource, with Terraform's template escapes undone."""
    return [(match.group("type"), match.group("name"), match.group("attribute"),
             json.loads(match.group("document").replace("$${", "${").replace("%%{", "%{")))
            for match in RESOURCE.finditer(text)]


def export(capsys, *arguments):
    code = main(["export", "terraform"] + list(arguments))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_every_asset_is_one_resource_holding_its_json(capsys):
    shipped = assets.load_assets()
    resources = parse_resources(export(capsys))
    assert len(resources) == len(shipped)
    for asset, (resource_type, _, attribute, document) in zip(shipped, resources):
        if asset["kind"] == assets.DASHBOARD:
            assert (resource_type, attribute) == ("datadog_dashboard_json", "dashboard")
        else:
            assert (resource_type, attribute) == ("datadog_monitor_json", "monitor")
        assert document == asset["body"]


def test_resource_names_are_unique_terraform_identifiers(capsys):
    names = [name for _, name, _, _ in parse_resources(export(capsys))]
    assert len(set(names)) == len(names)
    assert all(re.match(r"^[a-z_][a-z0-9_-]*$", name) for name in names)


def test_output_is_deterministic_and_declares_the_provider(capsys):
    first = export(capsys)
    assert first == export(capsys)
    assert 'source = "DataDog/datadog"' in first


def test_output_file(capsys, tmp_path):
    target = tmp_path / "ddllm.tf"
    code = main(["export", "terraform", "--output", str(target)])
    _, err = capsys.readouterr()
    assert code == 0
    assert "resources written to %s" % target in err
    assert len(parse_resources(target.read_text())) == len(assets.load_assets())


def test_template_syntax_in_a_message_is_escaped_and_same_file_names_stay_unique(tmp_path):
    monitor = next(asset for asset in assets.load_assets() if asset["kind"] == assets.MONITOR)
    body = dict(monitor["body"], message=monitor["body"]["message"] + " ${not_a_variable} %{ if x }")
    first = dict(monitor, body=body, path=str(tmp_path / "a" / "same.json"))
    second = dict(monitor, path=str(tmp_path / "b" / "same.json"))
    text = terraform.render([first, second], "test")
    assert "$${not_a_variable} %%{ if x }" in text
    resources = parse_resources(text)
    assert [name for _, name, _, _ in resources] == ["ddllm_same", "ddllm_same_2"]
    assert resources[0][3] == body
