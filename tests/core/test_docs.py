"""The README documents every setting (its table is generated from the schema)."""

from pathlib import Path

from assistant.settings_doc import markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_is_current():
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- settings-table:start -->")[1].split("<!-- settings-table:end -->")[0].strip()
    assert table == markdown(), "regenerate with: python -m assistant.settings_doc --write README.md"


def test_quickstart_has_two_commands():
    text = README.read_text(encoding="utf-8")
    block = text.split("## Quickstart")[1].split("```bash")[1].split("```")[0]
    assert len([line for line in block.splitlines() if line.strip()]) == 2


def test_readme_fit_table_is_current():
    from assistant.planner.fit import markdown as fit_markdown

    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- fit-table:start -->")[1].split("<!-- fit-table:end -->")[0].strip()
    assert table == fit_markdown(), "regenerate with: python -m assistant.planner.fit --write README.md"
