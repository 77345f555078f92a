"""The documentation's promises that need no build (issue 18): README.md is
short, every relative link in it and in docs/ resolves, and every page is one
click from the docs' home page and in the site's navigation.  (The site itself
is built with `mkdocs build --strict` by `nox -s docs`; the pages' Python
blocks run through Sybil, conftest.py.)"""
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
LINK = re.compile(r"\]\(([^)\s]+)\)")
PAGES = sorted(os.path.relpath(p, DOCS) for p in glob.glob(os.path.join(DOCS, "**", "*.md"), recursive=True))


def _links(path):
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)  # not inside code blocks
    return [link for link in LINK.findall(text) if "://" not in link and not link.startswith(("#", "mailto:"))]


def test_readme_is_at_most_150_lines():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert len(f.read().splitlines()) <= 150


@pytest.mark.parametrize("page", ["../README.md"] + PAGES)
def test_every_relative_link_resolves(page):
    path = os.path.normpath(os.path.join(DOCS, page))
    missing = [link for link in _links(path)
               if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), link.split("#")[0])))]
    assert missing == [], "{} links to files that do not exist: {}".format(page, missing)


def test_every_page_is_one_click_from_home_and_in_the_navigation():
    home = {os.path.normpath(link.split("#")[0]) for link in _links(os.path.join(DOCS, "index.md"))}
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        nav = f.read()
    for page in PAGES:
        if page == "index.md":
            continue
        assert page in home, "{} is not linked from docs/index.md".format(page)
        assert ": " + page.replace(os.sep, "/") in nav, "{} is not in mkdocs.yml's nav".format(page)
