"""docs/configuration.md lists every setting with its default, as the code defines them."""

from deploy.configdoc import DOCUMENT, render


def test_the_configuration_page_is_up_to_date() -> None:
    assert DOCUMENT.read_text() == render(), (
        "docs/configuration.md is out of date: run `python -m deploy.configdoc`"
    )
