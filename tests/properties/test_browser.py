"""The hub's pages in a real browser: headless Chromium opens index.html from `ghosthub serve`, finds every model,
filters the table, follows a model link, and shows something; hostile cards run nothing; the pages work from file://.

Runs where Debian's ``chromium`` and ``chromium-driver`` are installed (``.ci/run`` installs them); elsewhere it
skips and says so, and ``test_hub_pages.py`` checks the same pages with an HTML parser.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="headless Chromium is not installed (Debian: apt-get install chromium chromium-driver); "
        "the pages are still checked by test_hub_pages.py's HTML parse",
    ),
    pytest.mark.timeout(600),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (in the test extra) is not installed")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

HISTORY = [
    {"epoch": 1, "train_loss": 1.9, "val_loss": 1.5, "val_top1": 40.0, "val_top5": 90.0, "lr": 0.05},
    {"epoch": 2, "train_loss": 1.2, "val_loss": 1.1, "val_top1": 66.7, "val_top5": 100.0, "lr": 0.01},
    {"epoch": 3, "train_loss": 0.8, "val_loss": 0.9, "val_top1": 80.0, "val_top5": 100.0, "lr": 0.001},
]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A hub of three published GhostNets: gamma_050 is fine-tuned from alpha_050 and records its curves."""
    pytest.importorskip("mindspore")
    import gc

    import mindspore as ms

    from ghosthub.architectures import create_model
    from ghosthub.tasks.publish import publish
    from tests.support.publishing import published_hub

    root = tmp_path_factory.mktemp("browsed") / "hub"
    published_hub(root)
    ms.set_seed(3)
    ckpt = root.parent / "gamma.ckpt"
    ms.save_checkpoint(create_model("ghostnet", 0.5, num_classes=3), str(ckpt))
    gc.collect()
    record = {"seed": 7, "epochs": 3, "best_epoch": 3, "history": HISTORY, "base_model": "alpha_050"}
    publish(ckpt, name="gamma_050", hub=root, width=0.5, dataset="toy", provenance=record)
    return root


def served(root: Path):
    """`ghosthub serve DIR --port 0` in its own process: (process, its URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ghosthub", "serve", str(root), "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()  # "serving DIR at URL; pages at URL/index.html (Ctrl-C to stop)"
    assert " at http://127.0.0.1:" in line, line
    return proc, line.split(" at ")[1].split(";")[0].split(" ")[0]


@pytest.fixture
def server(hub):
    proc, url = served(hub)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def visible_names(driver) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "table.models tbody tr")
    return [r.get_attribute("data-name") for r in rows if r.is_displayed()]


def type_filter(driver, text: str, count: str) -> None:
    box = driver.find_element(By.ID, "filter")
    box.clear()
    box.send_keys(text)
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "count").text == count)


def assert_not_blank(png: bytes) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] >= 800 and image.size[1] >= 600, image.size
    colours = image.getcolors(maxcolors=1 << 20) or []
    dark = sum(n for n, (r, g, b) in colours if r + g + b < 300)  # text and lines on the light page
    assert len(colours) > 20 and dark > 500, f"a blank screenshot: {len(colours)} colours, {dark} dark pixels"


def test_the_index_lists_every_model_filters_sorts_and_leads_to_its_page(browser, hub, server, tmp_path):
    browser.get(server + "index.html")
    assert browser.title == "ghosthub: 3 models"
    assert visible_names(browser) == ["alpha_050", "beta_050", "gamma_050"]

    type_filter(browser, "gamma", "1 of 3 models")
    assert visible_names(browser) == ["gamma_050"]
    type_filter(browser, "ALPHA", "2 of 3 models")  # alpha_050, and gamma_050 whose base model it is
    assert visible_names(browser) == ["alpha_050", "gamma_050"]
    type_filter(browser, "no such model", "0 of 3 models")
    type_filter(browser, "toy", "3 of 3 models")

    header = browser.find_element(By.XPATH, "//th[.//button[text()='Model']]//button")
    header.click()
    header.click()  # descending
    assert visible_names(browser) == ["gamma_050", "beta_050", "alpha_050"]

    png = browser.get_screenshot_as_png()
    (tmp_path / "index.png").write_bytes(png)
    assert_not_blank(png)

    browser.find_element(By.LINK_TEXT, "gamma_050").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/models/gamma_050.html"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "gamma_050"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".curves svg")) == 2
    # The page's own script ran (the policy allowed it by hash): the command lines name this hub.
    assert {e.text for e in browser.find_elements(By.CLASS_NAME, "hub-url")} == {server}
    browser.find_element(By.LINK_TEXT, "alpha_050").click()  # the base model, up the chain
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/models/alpha_050.html"))
    assert_not_blank(browser.get_screenshot_as_png())


def test_the_pages_work_offline_from_the_folder(browser, hub):
    browser.get((hub / "index.html").as_uri())
    type_filter(browser, "beta", "1 of 3 models")
    browser.find_element(By.LINK_TEXT, "beta_050").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/models/beta_050.html"))
    assert {e.text for e in browser.find_elements(By.CLASS_NAME, "hub-url")} == {f"{hub}/"}


def test_hostile_cards_run_nothing_in_the_browser(browser, tmp_path):
    from ghosthub.hub.index import FORMAT, index_bytes, model_entry
    from ghosthub.hub.site import refresh_pages
    from ghosthub.modelcard import ModelCard, parse_card, render_card
    from tests.support.pages import STATIC

    attacks = [
        "<script>window.pwned=1</script>",
        '"><img src=x onerror="window.pwned=1">',
        "javascript:window.pwned=1",
        "<svg onload=window.pwned=1>",
    ]
    body = "\n\n".join(
        [
            "# hostile",
            *attacks,
            '[click](javascript:window.pwned=1) <javascript:window.pwned=1> ![i](x" onerror="window.pwned=1)',
            '<iframe src="javascript:window.pwned=1"></iframe><style>body{display:none}</style>',
        ]
    )
    root = tmp_path / "hub"
    (root / "cards").mkdir(parents=True)
    models = {}
    for i, attack in enumerate(attacks):
        name = f"m{i}"
        fields = {
            "model-name": name,
            "backbone-name": attack,
            "train-dataset": attack,
            "summary": attack,
            "author": attack,
            "repo-link": attack,
            "base-model": attack,
            "update-time": attack,
            "asset": [{"file-format": "ckpt", "asset-link": attack, "asset-sha256": "0123abcd"}],
            **{k: "x" for k in ("module-type", "model-version", "user-id", "used-for")},
            "fine-tunable": "True",
            **{"mindspore-version": "2.5", "license": attack, attack: attack},
        }
        text = render_card(ModelCard(name, fields, body))
        card = parse_card(text)
        (root / "cards" / f"{name}.md").write_text(text)
        models[name] = model_entry(card, hashlib.sha256(text.encode()).hexdigest(), [])
    (root / "index.json").write_bytes(index_bytes({"format": FORMAT, "updated": None, "models": models}))
    refresh_pages(root)

    proc, url = served(root)
    try:
        for path in ["index.html", *(f"models/m{i}.html" for i in range(len(attacks)))]:
            browser.get(url + path)
            WebDriverWait(browser, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
            with pytest.raises(NoAlertPresentException):
                browser.switch_to.alert.accept()
            assert browser.execute_script("return window.pwned === undefined"), f"a card ran code on {path}"
            scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.textContent)")
            assert scripts == [(STATIC / "hub.js").read_text(encoding="utf-8")], path
            assert browser.execute_script("return document.querySelectorAll('iframe,[onerror],[onload]').length") == 0
            assert "<script>window.pwned=1</script>" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
