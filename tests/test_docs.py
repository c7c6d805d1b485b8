"""Docs as tests: every CLI command, setting and reader format is documented in README.md."""
from __future__ import annotations

from pathlib import Path

import typer.main

from cli.main import app
from matcher.registry import all_readers
from matcher.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group, prefix=""):
    click_group = typer.main.get_command(group) if not hasattr(group, "commands") else group
    for name, cmd in click_group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_every_cli_command_is_in_readme():
    missing = [c for c in _commands(app) if f"upr-align {c}" not in README]
    assert not missing, f"README does not show: {missing}"


def test_every_setting_is_in_readme():
    missing = [f"UPR_ALIGN_{n.upper()}" for n in Settings.model_fields if f"UPR_ALIGN_{n.upper()}" not in README]
    assert not missing, f"README does not document: {missing}"


def test_every_reader_format_is_in_readme():
    missing = [n for n in all_readers() if f"`{n}`" not in README]
    assert not missing, f"README does not name formats: {missing}"


def test_readme_starts_with_the_two_setup_commands():
    blocks = README.split("```")
    first = blocks[1].strip().splitlines()
    commands = [line for line in first[1:] if line.strip() and not line.startswith("#")]
    assert len(commands) == 2, commands
    assert "upr-align demo" in commands[0] and "pytest" in commands[1]
