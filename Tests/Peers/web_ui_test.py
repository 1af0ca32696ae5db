"""The browser client in a real headless Chromium (Debian's chromium + chromium-driver, Selenium).

Run by Tests/BuilderAITests/WebClientTests.swift against a real `builderai serve` with the fake OpenAI
provider (`agent` scenario), an admin account Ada (password given) who owns the project --project, and
the `clock` MCP server. Prints one line per step; exits non-zero with what the page showed on failure.
Screenshots go to --out.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; frame-ancestors 'none'")
XSS = '<img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script> **bold**'


def step(text):
    print(f"- {text}", flush=True)


def http(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Proxy:
    """A TCP relay between the browser and the server that can cut every connection (a network drop)
    and refuse new ones for a while, so the page's reconnect and resume run as they would for real."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets = []
        self.refusing = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self.pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self):
        with self.lock:
            doomed, self.sockets = self.sockets, []
        for s in doomed:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


class UI:
    def __init__(self, args):
        self.args = args
        self.server = args.url.rstrip("/")
        host, port = self.server.split("//")[1].split(":")
        self.proxy = Proxy((host, int(port)))
        self.base = f"http://127.0.0.1:{self.proxy.port}"
        options = webdriver.ChromeOptions()
        for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--lang=en-US"]:
            options.add_argument(flag)
        options.binary_location = args.chromium
        service = webdriver.ChromeService(executable_path=args.chromedriver)
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(30)
        self.wait = WebDriverWait(self.driver, 20)
        os.makedirs(args.out, exist_ok=True)

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(self.args.out, f"{name}.png"))

    def css(self, selector, root=None):
        return (root or self.driver).find_elements(By.CSS_SELECTOR, selector)

    def until(self, condition, what, timeout=20):
        try:
            # Messages are re-rendered as events arrive, so an element found a moment ago may be gone.
            return WebDriverWait(self.driver, timeout, ignored_exceptions=[NoSuchElementException, StaleElementReferenceException]
                                 ).until(lambda d: condition())
        except Exception as error:
            raise AssertionError(f"timed out waiting for {what}") from error

    def visible(self, selector, timeout=20):
        return WebDriverWait(self.driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    def label_for(self, label):
        field = WebDriverWait(self.driver, 20).until(
            EC.presence_of_element_located((By.XPATH, f"//label[normalize-space()='{label}']")))
        return field.get_attribute("for")

    def fill(self, label, text):
        # Views render after a route change and their data loads: wait for the field to exist.
        field = WebDriverWait(self.driver, 20).until(
            EC.presence_of_element_located((By.XPATH, f"//label[normalize-space()='{label}']")))
        element = WebDriverWait(self.driver, 20).until(EC.presence_of_element_located((By.ID, field.get_attribute("for"))))
        element.clear()
        element.send_keys(text)
        return element

    def messages_text(self):
        return "\n".join(li.text for li in self.css(".messages > li"))

    def send_prompt(self, text):
        prompt = self.visible("#prompt")
        prompt.clear()
        prompt.send_keys(text)
        self.driver.find_element(By.ID, "send").click()


def headers_and_paths(ui):
    status, headers, body = http(ui.base + "/")
    assert status == 200 and b"/assets/app.js" in body, (status, body[:200])
    assert headers.get("Content-Security-Policy") == CSP, headers
    assert headers.get("X-Content-Type-Options") == "nosniff", headers
    assert headers.get("Content-Type", "").startswith("text/html"), headers
    status, headers, _ = http(ui.base + "/assets/app.js")
    assert status == 200 and headers.get("Content-Type", "").startswith("text/javascript"), (status, headers)
    status, headers, _ = http(ui.base + "/assets/app.css")
    assert status == 200 and headers.get("Content-Type", "").startswith("text/css"), (status, headers)
    for path in ["/assets/nope.js", "/assets/%2e%2e/Package.swift", "/assets/..%2fPackage.swift", "/index.html.bak"]:
        status, _, _ = http(ui.base + path)
        assert status == 404, (path, status)
    step("GET / and /assets/* carry the CSP and nosniff; unknown paths and .. are 404")


MARKDOWN_CASES = r"""
const { renderMarkdown } = await import("/assets/markdown.js");
const hostile = 'Hi <script>window.__pwned=3</script> <img src=x onerror="window.__pwned=4"> ' +
  '[click](javascript:window.__pwned=5) <a href="javascript:alert(1)">a</a>\n\n```html\n<img src=x onerror="window.__pwned=6">\n```';
const root = renderMarkdown(hostile);
document.body.append(root);
const md = renderMarkdown("# Title\n\nSome **bold**, *em* and `code`.\n\n- one\n- two\n\n1. first\n2. second\n\n```js\nlet x = 1 < 2;\n```\n\n> quoted\n\n[site](https://example.com)");
await new Promise((r) => setTimeout(r, 300));
return {
  pwned: window.__pwned ?? null,
  hostileTags: [...root.querySelectorAll("*")].map((e) => e.tagName),
  hostileText: root.textContent,
  tags: [...md.querySelectorAll("*")].map((e) => e.tagName),
  code: md.querySelector("pre code")?.textContent,
  lang: md.querySelector("pre code")?.dataset.lang,
  href: md.querySelector("a")?.getAttribute("href"),
  items: [...md.querySelectorAll("li")].map((li) => li.textContent),
};
"""


def markdown_renderer(ui):
    d = ui.driver
    d.get(ui.base + "/")
    ui.visible("#register-submit")
    result = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"(async () => {{ {MARKDOWN_CASES} }})().then(done, (e) => done({{error: String(e)}}));")
    assert "error" not in result, result
    assert result["pwned"] is None, result
    assert set(result["hostileTags"]) <= {"P", "PRE", "CODE", "BR"}, result["hostileTags"]
    assert "<script>" in result["hostileText"] and 'onerror="window.__pwned=6"' in result["hostileText"], result
    assert "[click](javascript:window.__pwned=5)" in result["hostileText"], "a javascript: link stays text"
    for tag in ["H3", "STRONG", "EM", "CODE", "UL", "OL", "LI", "PRE", "BLOCKQUOTE", "A"]:
        assert tag in result["tags"], (tag, result["tags"])
    assert result["code"] == "let x = 1 < 2;" and result["lang"] == "js", result
    assert result["href"] == "https://example.com/", result
    assert result["items"] == ["one", "two", "first", "second"], result
    step("the Markdown renderer builds headings, emphasis, code, lists, quotes and http links, and keeps HTML, "
         "javascript: links and code as text")


def register(ui):
    d = ui.driver
    d.get(ui.base + "/")
    ui.visible("#register-submit")
    ui.shot("login")
    d.set_window_size(390, 844)
    assert d.execute_script("return document.documentElement.scrollWidth") <= 390, "the sign-in page fits 390 px"
    d.set_window_size(1280, 900)
    ui.fill("Your name", "Lin")
    emails = [e for e in ui.css("input[type=email]")]
    emails[0].clear()
    emails[1].clear()
    emails[1].send_keys("lin@example.com")
    ui.fill("Password (at least 10 characters)", "correct horse battery")
    d.find_element(By.ID, "register-submit").click()
    ui.until(lambda: d.current_url.endswith("#/projects") and "Lin" in d.find_element(By.ID, "nav").text,
             "the projects page after registering")
    ui.until(lambda: "No projects yet" in d.find_element(By.ID, "main").text,
             "the (empty) project list of a new account")
    nav = d.find_element(By.ID, "nav").text
    assert "Admin" not in nav and "null" not in nav, f"a plain user's menu: {nav!r}"
    ui.shot("projects")
    step("registered in the browser; the projects page lists no projects yet")
    # A short password is refused with the server's words.
    d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    ui.visible("#register-submit")
    ui.fill("Your name", "Short")
    emails = ui.css("input[type=email]")
    emails[1].send_keys("short@example.com")
    ui.fill("Password (at least 10 characters)", "short")
    d.execute_script("document.querySelectorAll('input[minlength]').forEach(i => i.removeAttribute('minlength'))")
    d.find_element(By.ID, "register-submit").click()
    notice = ui.visible(".notice.error")
    assert "password" in notice.text and "Could not create the account" in notice.text, notice.text
    step(f"errors are stated in words: {notice.text!r}")


def sign_in_and_open_project(ui):
    d = ui.driver
    emails = ui.css("input[type=email]")
    emails[0].clear()
    emails[0].send_keys(ui.args.email)
    d.find_element(By.CSS_SELECTOR, "input[autocomplete=current-password]").send_keys(ui.args.password)
    d.find_element(By.ID, "signin-submit").click()
    ui.visible("#open-project")
    ui.fill("Project id", ui.args.project)
    d.find_element(By.ID, "open-project").click()
    ui.until(lambda: "Bakery" in d.find_element(By.CSS_SELECTOR, ".project-head").text, "the project to open")
    ui.until(lambda: "Ada" in d.find_element(By.CSS_SELECTOR, ".watchers").text, "Ada in the presence list")
    step("signed in as the admin and opened the project by id; presence lists Ada")


def chat(ui):
    d = ui.driver
    ui.send_prompt("Hello there")
    ui.until(lambda: "Hello from the fake OpenAI." in ui.messages_text(), "the streamed answer")
    ui.until(lambda: "/c/" in d.current_url, "the new conversation in the URL")
    step("sent a prompt; the streamed answer appeared")

    ui.send_prompt("call list_files {}")
    ui.until(lambda: [c for c in ui.css("details.tool-card") if "list_files" in c.text], "a list_files tool card")
    ui.until(lambda: "Tool result:" in ui.messages_text() and "done" in ui.css("details.tool-card")[0].text,
             "the answer after the tool result")
    ui.until(lambda: ui.css(".messages > li")[-1].get_attribute("class").find("status-complete") >= 0, "the answer to finish")
    card = ui.css("details.tool-card")[0]
    card.find_element(By.TAG_NAME, "summary").click()
    ui.until(lambda: card.get_attribute("open") is not None, "the card to open")
    assert "Arguments" in card.text and "Result" in card.text, card.text
    assert "The workspace is empty." in card.text, card.text
    ui.shot("chat")
    step("a tool call shows as a collapsible card with its arguments and result")

    # "echo" makes the fake model answer with the same text: the hostile markup is in the user's
    # message and in the model's answer, streamed in two deltas that split it.
    ui.send_prompt("echo " + XSS)
    ui.until(lambda: ui.messages_text().count("window.__pwned=1") >= 2, "the hostile prompt and answer shown as text")
    time.sleep(0.5)
    pwned = d.execute_script("return window.__pwned")
    assert pwned is None, f"script ran: {pwned}"
    assert not ui.css(".messages img"), "an <img> element was created from message text"
    assert not ui.css(".messages script"), "a <script> element was created from message text"
    assert ui.css(".messages strong"), "Markdown bold still renders"
    step("<img onerror> and <script> in a prompt and in the model's answer are shown as text and do not run")


def history_after_reload(ui):
    d = ui.driver
    before = ui.messages_text()
    d.refresh()
    ui.until(lambda: "Hello from the fake OpenAI." in ui.messages_text() and "window.__pwned=1" in ui.messages_text(),
             "the history after a reload")
    assert any("list_files" in c.text for c in ui.css("details.tool-card")), "the tool card is in the history"
    assert d.execute_script("return window.__pwned") is None
    assert not ui.css(".messages img")
    assert ui.messages_text().count("Hello there") == before.count("Hello there"), "no message twice"
    step("after a reload the session is kept and the conversation's history is replayed")


def stop_generation(ui):
    d = ui.driver
    ui.send_prompt("slow 200")
    stop = ui.visible("#stop")
    ui.until(lambda: "tick3" in ui.messages_text(), "the slow answer to stream")
    stop.click()
    ui.until(lambda: not d.find_element(By.ID, "stop").is_displayed(), "the stop button to go away")
    ui.until(lambda: "stopped" in ui.css(".messages > li")[-1].text, "the answer marked as stopped")
    text = ui.messages_text()
    time.sleep(0.6)
    assert ui.messages_text() == text, "text kept streaming after stop"
    assert "tick199" not in text
    step("Stop cancels the generation; the text so far stays, marked stopped")


def reconnect_and_resume(ui):
    d = ui.driver
    ui.send_prompt("slow 60")
    ui.until(lambda: "slow 60" in ui.messages_text() and "tick5" in ui.css(".messages > li")[-1].text,
             "the slow answer to start")
    ui.proxy.refusing = True
    ui.proxy.drop()
    banner = ui.until(lambda: d.find_element(By.ID, "connection").is_displayed() and d.find_element(By.ID, "connection"),
                      "the reconnecting banner")
    assert "Reconnecting" in banner.text, banner.text
    ui.shot("reconnecting")
    # A prompt sent while disconnected goes out once the connection is back, exactly once.
    ui.send_prompt("Sent while offline")
    time.sleep(1.5)
    ui.proxy.refusing = False
    ui.until(lambda: not d.find_element(By.ID, "connection").is_displayed(), "the connection to come back", timeout=30)

    def answer_to(prompt):
        texts = [li.text for li in ui.css(".messages > li")]
        asked = [i for i, t in enumerate(texts) if t.endswith(prompt)]
        return texts[asked[-1] + 1] if asked and asked[-1] + 1 < len(texts) else ""

    ui.until(lambda: "tick59" in answer_to("slow 60"), "the answer to finish after resuming", timeout=30)
    last = answer_to("slow 60")
    for n in range(60):
        assert last.split().count(f"tick{n}") == 1, f"tick{n} is not there exactly once: {last!r}"
    ui.until(lambda: "Hello from the fake OpenAI." in answer_to("Sent while offline"), "the offline prompt's answer", timeout=30)
    assert ui.messages_text().count("Sent while offline") == 1, "the offline prompt was sent twice"
    step("while the network is cut the page says it is reconnecting; afterwards the answer resumes with no gap and no "
         "duplicate, and a prompt sent meanwhile goes out exactly once")


def phone_and_keyboard(ui):
    d = ui.driver
    d.set_window_size(390, 844)
    time.sleep(0.3)
    width = d.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    ui.shot("chat-phone")
    # The composer is reachable and usable with the keyboard: Ctrl+Enter sends.
    prompt = d.find_element(By.ID, "prompt")
    prompt.send_keys("Keyboard prompt")
    prompt.send_keys(Keys.CONTROL, Keys.ENTER)
    ui.until(lambda: ui.messages_text().count("Hello from the fake OpenAI.") >= 3, "the keyboard prompt's answer")
    send = d.find_element(By.ID, "send")
    send.send_keys("")  # focus
    assert d.switch_to.active_element == send
    d.set_window_size(1280, 900)
    step("no horizontal scrolling at 390 px; Ctrl+Enter sends from the keyboard")


def conversations(ui):
    d = ui.driver
    ui.fill("New conversation", "Second thoughts")
    d.find_element(By.XPATH, "//form[contains(@class,'new-conversation')]//button").click()
    ui.until(lambda: "Second thoughts" in d.find_element(By.CSS_SELECTOR, ".conversations").text, "the new conversation listed")
    ui.until(lambda: "No messages yet" in d.find_element(By.CSS_SELECTOR, ".chat-scroll").text, "the new, empty conversation")
    d.find_element(By.LINK_TEXT, "Hello there").click()
    ui.until(lambda: "Hello from the fake OpenAI." in ui.messages_text() and "tick59" in ui.messages_text(),
             "the first conversation's history")
    step("conversations are listed, created and opened from the sidebar")


def files(ui):
    """The model writes a file with the workspace tool; the Files tab lists it and shows it as text."""
    d = ui.driver
    d.find_element(By.LINK_TEXT, "Chat").click()
    ui.send_prompt('call write_file {"path": "site/index.html", "content": "<h1>Bakery</h1><img src=x onerror=\\"window.__pwned=3\\">"}')
    ui.until(lambda: "wrote site/index.html" in ui.messages_text(), "the write_file result")
    d.find_element(By.LINK_TEXT, "Files").click()
    ui.until(lambda: any("site/index.html" in li.text for li in ui.css(".files li")), "the written file in the list")
    d.find_element(By.PARTIAL_LINK_TEXT, "site/index.html").click()
    ui.until(lambda: "<h1>Bakery</h1>" in "".join(p.text for p in ui.css("pre.file-content")), "the file's content as text")
    assert d.execute_script("return window.__pwned") is None and not ui.css(".viewer img"), "file content ran as HTML"
    step("a file the model wrote is listed under Files and opens as text")


def admin(ui):
    d = ui.driver
    d.find_element(By.LINK_TEXT, "Admin").click()
    row = ui.until(lambda: [r for r in ui.css(".servers-table tbody tr") if "clock" in r.text], "the clock server row")[0]
    assert row.find_elements(By.CSS_SELECTOR, "svg.chart"), "a latency chart"
    ui.shot("admin")
    d.set_window_size(390, 844)
    time.sleep(0.3)
    width = d.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the admin page is {width}px wide on a 390px screen"
    d.set_window_size(1280, 900)
    row.find_element(By.XPATH, ".//button[normalize-space()='Restart']").click()
    notice = ui.visible(".notice.ok")
    assert "Restarting clock" in notice.text, notice.text
    chart = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import("/assets/admin.js").then(({ latencyChart }) => {
          const now = Date.now();
          const samples = Array.from({ length: 60 }, (_, i) => ({ at: now - (60 - i) * 60000, status: i === 30 ? "down" : "healthy",
                                                                  latency_ms: i === 30 ? null : 10 + (i % 7) }));
          const svg = latencyChart(samples, now);
          done({ points: svg.querySelector("polyline").getAttribute("points").split(" ").length,
                 down: svg.querySelectorAll("circle.down").length, title: svg.querySelector("title").textContent });
        }, (e) => done({ error: String(e) }));
    """)
    assert chart.get("points") == 59 and chart.get("down") == 1 and "highest 16.0 ms" in chart.get("title", ""), chart
    step("the admin page lists the MCP server with its state and latency chart (59 samples drawn as a line, "
         "a down sample marked); Restart works")


def rest(ui, method, path, body=None, token=None):
    """A REST call as a script would make it (to set up what the page then shows)."""
    request = urllib.request.Request(ui.args.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def create_project(ui):
    """As Lin: create a project from the projects page; it opens, and the list shows it."""
    d = ui.driver
    d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    ui.visible("#signin-submit")
    emails = ui.css("input[type=email]")
    emails[0].clear()
    emails[0].send_keys("lin@example.com")
    d.find_element(By.CSS_SELECTOR, "input[autocomplete=current-password]").send_keys("correct horse battery")
    d.find_element(By.ID, "signin-submit").click()
    ui.until(lambda: "No projects yet" in d.find_element(By.ID, "main").text, "Lin's empty project list")
    ui.fill("Name", "Lin's garden planner")
    ui.fill("Model (provider/model)", "openai/agent")
    ui.fill("MCP servers (comma separated, * for all)", "clock")
    d.find_element(By.XPATH, "//button[normalize-space()='Create project']").click()
    ui.until(lambda: "Lin's garden planner" in d.find_element(By.CSS_SELECTOR, ".project-head").text, "the new project to open")
    # The choices are the project's, as the server stores them.
    lin = rest(ui, "POST", "/api/v1/auth/login", {"email": "lin@example.com", "password": "correct horse battery"})["access_token"]
    mine = next(p for p in rest(ui, "GET", "/api/v1/projects", token=lin)["items"] if p["name"] == "Lin's garden planner")
    config = rest(ui, "GET", f"/api/v1/projects/{mine['id']}/config", token=lin)
    assert config["model"] == "openai/agent" and config["mcp_servers"] == ["clock"], config
    d.find_element(By.CSS_SELECTOR, "#nav a[href='#/projects']").click()
    ui.until(lambda: any("Lin's garden planner" in li.text for li in ui.css(".project-list li")), "the project in the list")
    step("created a project from the projects page with its model and MCP servers; it opened and is listed")
    # Lin publishes it from its Publish tab.
    d.find_element(By.PARTIAL_LINK_TEXT, "Lin's garden planner").click()
    ui.until(lambda: d.find_elements(By.LINK_TEXT, "Publish"), "the project's Publish tab")[0].click()
    ui.fill("App name", "Garden Planner")
    ui.fill("Description", "Plan your beds and sowing dates")
    ui.fill("Tags (comma separated)", "garden, planning")
    d.find_element(By.XPATH, "//button[normalize-space()='Publish']").click()
    ui.until(lambda: "/market/" in d.current_url and "Garden Planner" in d.find_element(By.ID, "main").text,
             "the published app's page")
    step("published the project as an app from its Publish tab; the app page opened")


def marketplace(ui):
    """Ada publishes her project (a script, over REST); Lin finds it, installs it and reviews it."""
    d = ui.driver
    token = rest(ui, "POST", "/api/v1/auth/login", {"email": ui.args.email, "password": ui.args.password})["access_token"]
    rest(ui, "POST", "/api/v1/apps", {"project_id": ui.args.project, "name": "Bakery Builder",
                                      "description": "Landing pages for bakeries", "category": "business",
                                      "tags": ["bakery"], "price_cents": 0, "version": "1.0.0"}, token)
    ui.until(lambda: d.find_elements(By.LINK_TEXT, "Marketplace"), "the Marketplace link")[0].click()
    ui.fill("Search", "bakery")
    d.find_element(By.ID, "market-search").click()
    ui.until(lambda: any("Bakery Builder" in card.text for card in ui.css(".app-card")), "the app in the search results")
    ui.shot("marketplace")
    d.find_element(By.LINK_TEXT, "Bakery Builder").click()
    ui.visible("#install").click()
    ui.until(lambda: "Installed as project" in d.find_element(By.ID, "main").text, "the install confirmation")
    ui.fill("Review", "Saved me a weekend")
    d.find_element(By.XPATH, "//button[normalize-space()='Save review']").click()
    ui.until(lambda: any("Saved me a weekend" in li.text and "(you)" in li.text for li in ui.css(".reviews li")),
             "Lin's review in the list")
    stat = lambda name: d.find_element(By.XPATH, f"//dl[@class='stats']/dt[.='{name}']/following-sibling::dd[1]").text
    ui.until(lambda: stat("Installs") == "1" and stat("Reviews") == "1", "the page's stats to count the install and the review")
    ui.shot("app")
    projects = rest(ui, "GET", "/api/v1/apps?q=bakery")["items"]
    stats = next(app for app in projects if app["name"] == "Bakery Builder")["stats"]
    assert stats["downloads"] == 1 and stats["review_count"] == 1, stats
    step("searched the marketplace, installed the app and reviewed it; the app's stats count one download and one review")

    # Filters and sort, without a search: the free business app is listed by downloads; no paid app exists.
    ui.until(lambda: d.find_elements(By.LINK_TEXT, "Marketplace"), "the Marketplace link")[0].click()
    ui.fill("Search", "")
    ui.fill("Category", "business")
    Select(ui.driver.find_element(By.ID, ui.label_for("Price"))).select_by_value("free")
    Select(ui.driver.find_element(By.ID, ui.label_for("Sort by"))).select_by_value("downloads")
    d.find_element(By.ID, "market-search").click()
    ui.until(lambda: "sort=downloads" in d.current_url and "price=free" in d.current_url and "category=business" in d.current_url,
             "the filters in the address")
    ui.until(lambda: [c.text for c in ui.css(".app-card")] and all("business" in c.text for c in ui.css(".app-card"))
             and any("Bakery Builder" in c.text for c in ui.css(".app-card")), "the free business apps")
    Select(ui.driver.find_element(By.ID, ui.label_for("Price"))).select_by_value("paid")
    d.find_element(By.ID, "market-search").click()
    ui.until(lambda: "No apps match." in d.find_element(By.ID, "main").text, "no paid business app")
    step("filtered by category and price and sorted by downloads; a filter nothing matches says so")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--out", default="test-output/web")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    ui = UI(args)
    try:
        headers_and_paths(ui)
        markdown_renderer(ui)
        register(ui)
        sign_in_and_open_project(ui)
        chat(ui)
        history_after_reload(ui)
        stop_generation(ui)
        reconnect_and_resume(ui)
        phone_and_keyboard(ui)
        conversations(ui)
        files(ui)
        admin(ui)
        create_project(ui)
        marketplace(ui)
    except Exception:
        traceback.print_exc()
        try:
            ui.shot("failure")
            print("URL:", ui.driver.current_url, file=sys.stderr)
            print("PAGE:", ui.driver.find_element(By.TAG_NAME, "body").text[:3000], file=sys.stderr)
            for entry in ui.driver.get_log("browser")[-20:]:
                print("CONSOLE:", entry, file=sys.stderr)
        except Exception:
            pass
        sys.exit(1)
    finally:
        ui.driver.quit()


if __name__ == "__main__":
    main()
