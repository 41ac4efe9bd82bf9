"""The page and the report in a real headless Chromium (Selenium, /usr/bin/chromedriver):
an uploaded CamVid frame comes back as overlay and legend, a rejected file says why, a video
plays its result, the fake camera's frames are segmented, and report.html renders from disk.

Screenshots go to $SEGNET_SCREENSHOT_DIR when set (docs/screenshots/ holds the committed ones)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from segnet.jobs.report import write_report_html
from tests.serve.conftest import synthetic_report_inputs, write_clip

WAIT_S = 90
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None or not Path(CHROMEDRIVER).exists():
        pytest.fail("Chromium is needed for the browser tests: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return Path(os.environ.get("SEGNET_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))


def wait(driver, condition, timeout=WAIT_S):
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: d.execute_script(condition))


def open_page(browser, server):
    browser.get(server.url + "/")
    browser.execute_script("sessionStorage.clear()")  # the page keeps the token for the tab's session
    browser.refresh()
    # without the token /v1/model answers 401: the page says so and opens the token box itself
    wait(browser, "return document.getElementById('token-box').open")
    assert "missing or wrong token" in browser.find_element(By.ID, "model-line").text
    browser.find_element(By.ID, "token").send_keys(server.token, Keys.TAB)  # change event: model line reloads
    wait(browser, "return document.getElementById('model-line').textContent.startsWith('fc_densenet56')")


def test_upload_shows_overlay_legend_and_areas(browser, server, model, frame_path, screenshots):
    open_page(browser, server)
    browser.find_element(By.ID, "image-file").send_keys(str(frame_path))
    wait(browser, "return !document.getElementById('image-result').hidden")
    assert browser.find_element(By.ID, "status").text == "Segmented 0001TP_008550.png (480x360)."
    rows = browser.find_elements(By.CSS_SELECTOR, "#legend tbody tr")
    assert len(rows) == 11 and rows[0].find_elements(By.TAG_NAME, "td")[2].text.endswith(" %")
    # the label map the page decoded is the model's, pixel for pixel (class histogram)
    counts = browser.execute_script("const c = new Array(12).fill(0); for (const v of lastImage.ids) c[v]++; return c;")
    expected = np.bincount(model.predict(str(frame_path)).ravel(), minlength=12)
    assert counts == expected.tolist()
    pixel = "return Array.from(document.getElementById('overlay').getContext('2d').getImageData(5, 5, 1, 1).data)"
    before = browser.execute_script(pixel)
    slider = browser.find_element(By.ID, "opacity")
    slider.send_keys(Keys.END)  # the keyboard moves the slider: full class colour
    assert browser.execute_script(pixel) != before
    slider.send_keys(Keys.HOME, *[Keys.ARROW_RIGHT] * 55)
    assert browser.find_element(By.ID, "download").get_attribute("download") == "0001TP_008550_labels.png"
    browser.save_screenshot(str(screenshots / "serve_page.png"))


def test_rejected_file_gets_a_clear_message(browser, server, tmp_path):
    open_page(browser, server)
    fake = tmp_path / "holiday.png"
    fake.write_bytes(b"this is not a picture")
    browser.find_element(By.ID, "image-file").send_keys(str(fake))
    wait(browser, "return document.getElementById('status').classList.contains('error')")
    status = browser.find_element(By.ID, "status")
    assert status.text.startswith("holiday.png was rejected: the upload is not an image")
    assert status.get_attribute("aria-live") == "polite"


def test_video_tab_shows_progress_and_plays_the_result(browser, server, tmp_path):
    open_page(browser, server)
    browser.find_element(By.ID, "tab-video").click()
    browser.find_element(By.ID, "video-file").send_keys(str(write_clip(tmp_path / "street.avi", frames=4)))
    wait(browser, "const v = document.getElementById('video-result'); return !v.hidden && v.readyState >= 1")
    assert browser.execute_script("return document.getElementById('video-result').duration") > 0
    assert browser.find_element(By.ID, "status").text.startswith("Segmented 4 frames of street.avi")
    assert browser.execute_script("return document.getElementById('video-progress').value") == 4


def test_camera_frames_are_segmented_and_counted(browser, server, screenshots):
    open_page(browser, server)
    tab = browser.find_element(By.ID, "tab-camera")
    tab.click()
    assert tab.get_attribute("aria-selected") == "true"
    browser.find_element(By.ID, "camera-start").click()
    wait(browser, "return Number(document.getElementById('camera-fps').dataset.frames || 0) >= 3")
    assert float(browser.find_element(By.ID, "camera-fps").text) > 0
    assert browser.execute_script("return document.getElementById('camera-overlay').width") == 640
    browser.save_screenshot(str(screenshots / "serve_camera.png"))
    browser.find_element(By.ID, "camera-stop").click()
    assert browser.find_element(By.ID, "status").text == "Camera stopped."


def test_report_opens_from_disk_with_its_table_and_images(browser, tmp_path, screenshots):
    report = write_report_html(tmp_path / "report.html", **synthetic_report_inputs())
    browser.get(report.as_uri())
    assert len(browser.find_elements(By.CSS_SELECTOR, "#iou-table tbody tr")) == 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "#worst-frames tbody tr")) == 3
    wait(browser, "return Array.from(document.images).every(i => i.complete)")
    sizes = browser.execute_script("return Array.from(document.images).map(i => i.naturalWidth)")
    assert len(sizes) == 15 and min(sizes) > 0
    browser.save_screenshot(str(screenshots / "report_synthetic.png"))
