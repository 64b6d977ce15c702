"""The `ddllm` command: one subcommand per module, imported only when that subcommand runs.

Each module exposes `configure_parser(parser)` and `run(args) -> int`. Importing lazily keeps
`ddllm validate` and `ddllm push` free of LiteLLM and ddtrace, and lets one broken or missing
module fail its own subcommand only.
"""

import argparse
import importlib
import sys

# name -> (module, one-line help). `export` has subcommands of its own, see EXPORT_FORMATS.
COMMANDS = {
    "validate": ("ddllm.assets.validation", "check the dashboards, monitors and SLOs offline"),
    "push": ("ddllm.assets.push", "create or update the dashboards, monitors and SLOs in Datadog"),
    "export": (None, "write the dashboards, monitors and SLOs for another tool"),
    "doctor": ("ddllm.cli.doctor", "check that this environment sends what ddllm measures"),
    "demo": ("ddllm.cli.demo", "run a scripted fallback and print its attempts"),
}
EXPORT_FORMATS = {
    "terraform": ("ddllm.assets.terraform", "datadog_dashboard_json and datadog_monitor_json resources"),
}


class CommandUnavailable(Exception):
    pass


def _load_command_module(command, module_name):
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CommandUnavailable("ddllm %s is not available: cannot import %s (%s)" % (command, module_name, error))
    missing = [name for name in ("configure_parser", "run") if not callable(getattr(module, name, None))]
    if missing:
        raise CommandUnavailable(
            "ddllm %s is not available: %s has no %s" % (command, module_name, " and no ".join(missing))
        )
    return module


def _chosen(argv, names):
    """The first argument that is not an option, if it names a command."""
    for argument in argv:
        if argument == "--":
            return None
        if not argument.startswith("-"):
            return argument if argument in names else None
    return None


def build_parser(argv):
    """The parser, with the chosen subcommand's module loaded and its arguments configured.
    Returns (parser, module or None)."""
    from ddllm import __version__

    parser = argparse.ArgumentParser(
        prog="ddllm",
        description="ddllm: LiteLLM attempts, retries and fallbacks in Datadog. Dashboards, monitors and checks.",
    )
    parser.add_argument("--version", action="version", version="ddllm %s" % __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen(argv, COMMANDS)
    module = None
    parser.chosen_parser = parser  # the parser whose usage a bad argument prints
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = commands.add_parser(name, help=help_text, description=help_text)
        if name != chosen:
            continue
        parser.chosen_parser = command_parser
        if name == "export":
            module, format_parser = _configure_export(command_parser, argv[argv.index(name) + 1 :])
            parser.chosen_parser = format_parser or command_parser
        else:
            module = _load_command_module(name, module_name)
            module.configure_parser(command_parser)
    return parser, module


def _configure_export(export_parser, argv):
    """(module, parser) of the chosen format, (None, None) when none is chosen."""
    formats = export_parser.add_subparsers(dest="format", metavar="FORMAT")
    chosen = _chosen(argv, EXPORT_FORMATS)
    module = chosen_parser = None
    for name, (module_name, help_text) in EXPORT_FORMATS.items():
        format_parser = formats.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = _load_command_module("export " + name, module_name)
            module.configure_parser(format_parser)
            chosen_parser = format_parser
    return module, chosen_parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, module = build_parser(argv)
    except CommandUnavailable as error:
        print(error, file=sys.stderr)
        return 2
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # said with the subcommand's usage, not the top level's
            parser.chosen_parser.error("unrecognized arguments: %s" % " ".join(unknown))
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "export" and getattr(args, "format", None) is None:
        print("ddllm export: say which format: %s" % ", ".join(EXPORT_FORMATS), file=sys.stderr)
        return 2
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("ddllm %s: interrupted" % args.command, file=sys.stderr)
        return 130
