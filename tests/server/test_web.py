"""The chat page at `/`, driven in a real headless Chromium (Debian's `chromium`, through Playwright with the
system browser: Playwright's own browser download is not used).

The shared server requires an API key, so the page has to ask for it; replies come streamed from the real model.
Set WEB_TEST_SCREENSHOT=FILE.png to keep a screenshot of the page after the reply.
"""

from __future__ import annotations

import os
import shutil

import httpx
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(apt-get install chromium; scripts/test.sh installs it)")
# No network, no first-run work, no sandbox (tests may run as root in a container).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
# Counts how often a streaming reply's text changed (the page re-renders on every chunk that arrives).
COUNT_UPDATES = """
window.__updates = 0;
new MutationObserver(() => {
  if (document.querySelector('.msg.assistant.streaming .body')?.textContent) window.__updates += 1;
}).observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    pg = context.new_page()
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.requests = requests  # type: ignore[attr-defined]
    yield pg
    context.close()


def test_page_and_assets_are_served_without_a_key_and_locked_down(live):
    r = httpx.get(live.url + "/", timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("app.js", "markdown.js", "style.css"):
        assert httpx.get(f"{live.url}/static/{asset}", timeout=10).status_code == 200
    assert httpx.get(live.url + "/static/nope.js", timeout=10).status_code == 404


def test_chat_streams_a_reply_with_its_route_tag(live, page):
    page.goto(live.url + "/")
    # A locator, not wait_for_function: Playwright compiles a string predicate with eval, which the page's CSP
    # (script-src 'self') refuses whenever the predicate is re-evaluated in the page.
    sync_api.expect(page.locator("#server-info")).to_contain_text("context 1024", timeout=30_000)
    page.evaluate(COUNT_UPDATES)
    page.fill("#input", "Write a long story about a dragon who lives in a castle.")
    page.keyboard.press("Enter")
    # The server requires a key: the page asks for it on the 401, then retries.
    page.wait_for_selector("#key-dialog[open]", timeout=30_000)
    page.fill("#key-input", live.api_key)
    page.click("#key-form button[type=submit]")

    tag = page.wait_for_selector(".msg.assistant .tag:has-text('tok/s')", timeout=120_000)
    assert tag.get_attribute("data-route") == "local"
    text = tag.text_content()
    assert text.startswith("local · ") and "context " in text and "/1024" in text, text
    reply = page.text_content(".msg.assistant .body")
    assert reply and reply.strip()
    assert page.evaluate("window.__updates") >= 2  # the reply grew while it streamed
    assert not page.query_selector(".error")
    # Everything came from Hearth itself: no CDN, no other host.
    assert all(url.startswith((live.url, "data:")) for url in page.requests), page.requests
    if shot := os.environ.get("WEB_TEST_SCREENSHOT"):
        page.screenshot(path=shot)

    # The conversation is kept in the browser: a reload shows it again, tag included.
    page.reload()
    page.wait_for_selector(".msg.assistant .tag[data-route=local]")
    assert page.text_content(".msg.user .body").startswith("Write a long story")
    page.click("#new-chat")
    assert page.query_selector(".msg") is None


def test_markdown_is_rendered_and_html_is_escaped(live, page):
    page.goto(live.url + "/")
    source = ("# Title\n\n**bold** and `a<b>` <img src=x onerror=alert(1)>\n\n- one\n- two\n\n"
              "```py\nprint(1 < 2)\n```\n[x](javascript:alert(1))")
    html = page.evaluate("source => renderMarkdown(source)", source)
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<code>a&lt;b&gt;</code>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert '<pre><code class="language-py">print(1 &lt; 2)</code></pre>' in html
    assert "href" not in html  # only http(s) links become links
