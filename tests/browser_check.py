"""Open every page of the built book in headless Chromium and check what a reader would see.

    python tests/browser_check.py [book/_build/html]

Fails on: a cell's error output, an <img> whose file is missing, an internal link to a missing page
or anchor, a script loaded from a CDN, math that MathJax did not typeset, widget snapshots that the
widget manager did not render. The page is read after its scripts ran (--dump-dom), from file://
with no network, exactly as an offline reader opens it. Chromium comes from Debian (apt-get, as
root); without root and without chromium, the check is skipped with a message.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

SITE = Path(sys.argv[1] if len(sys.argv) > 1 else "book/_build/html").resolve()
SKIP_DIRS = {"_static", "_sources", "_images", "vendor"}  # assets, not pages
PAGE_TIMEOUT_S = 60


def find_chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found or os.geteuid() != 0:
        return found
    print("installing Debian's chromium (apt-get)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return shutil.which("chromium")


def dump_dom(chromium: str, page: Path, profile: str) -> str:
    """The page's DOM after its scripts ran. The virtual time budget lets MathJax and the widget
    manager finish (it is virtual: an idle page ends early)."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--allow-file-access-from-files", f"--user-data-dir={profile}",
             "--virtual-time-budget=15000", "--dump-dom"]
    done = subprocess.run([chromium, *flags, page.as_uri()], capture_output=True, text=True,
                          timeout=PAGE_TIMEOUT_S)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"chromium failed on {page}: {done.stderr[-500:]}")
    return done.stdout


class Elements(HTMLParser):
    """Collects what the checks need: ids, img src, a href, script src, and class names."""

    def __init__(self):
        super().__init__()
        self.ids, self.imgs, self.links, self.scripts, self.classes = set(), [], [], [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if a.get("name") and tag == "a":
            self.ids.add(a["name"])
        self.classes.update((a.get("class") or "").split())
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])


def parse(html: str) -> Elements:
    elements = Elements()
    elements.feed(html)
    return elements


def local_target(page: Path, url: str) -> tuple[Path, str] | None:
    """The file and fragment an internal URL points to; None for external and data URLs."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "mailto", "data", "javascript", "blob"):
        return None
    if parts.scheme == "file":
        return Path(unquote(parts.path)), parts.fragment
    path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    return path, parts.fragment


def check_page(page: Path, dom: str, static_ids) -> list[str]:
    problems, rendered, source = [], parse(dom), page.read_text(encoding="utf-8")
    redirect = re.search(r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"', source, re.I)
    if redirect:  # e.g. index.html: the DOM is the target's, so only the target is checked here
        target = local_target(page, redirect.group(1))
        return [] if target is None or target[0].is_file() else [f"redirect to a missing page: {redirect.group(1)}"]
    if rendered.classes & {"traceback", "highlight-ipythontb"}:
        problems.append("a cell shows an error (traceback) output")
    for src in rendered.imgs:
        target = local_target(page, src)
        if target and not target[0].is_file():
            problems.append(f"image file missing: {src}")
    for href in rendered.links:
        target = local_target(page, href)
        if not target:
            continue
        path, fragment = target
        if path.is_dir():
            path = path / "index.html"
        if not path.exists():
            problems.append(f"broken link: {href}")
        elif fragment and path.suffix == ".html" and fragment not in static_ids(path):
            problems.append(f"broken anchor: {href}")
    for src in rendered.scripts:
        if urlsplit(src).scheme in ("http", "https"):
            problems.append(f"script from the network (breaks offline reading): {src}")
    # (a page title with math would put math into every page's navigation, where pages without math
    # of their own, such as search.html, load no MathJax: keep titles plain)
    if 'class="math' in source and "mjx-container" not in dom:
        problems.append("math was not typeset by MathJax")
    if "application/vnd.jupyter.widget-view+json" in source and not any(
            c.startswith("widget-") for c in rendered.classes):
        problems.append("a widget snapshot was not rendered")
    return list(dict.fromkeys(problems))  # each problem once, in page order


def main() -> int:
    if not (SITE / "index.html").exists():
        print(f"no built site at {SITE}: build it first (bash .ci/book.sh)")
        return 1
    chromium = find_chromium()
    if not chromium:
        print("SKIPPED browser check: chromium is not installed and installing it needs root "
              "(apt-get install chromium)")
        return 0
    pages = sorted(p for p in SITE.rglob("*.html")
                   if not SKIP_DIRS & set(p.relative_to(SITE).parts[:-1]))
    id_cache: dict[Path, set] = {}

    def static_ids(path: Path) -> set:
        if path not in id_cache:
            id_cache[path] = parse(path.read_text(encoding="utf-8")).ids
        return id_cache[path]

    def run(page: Path):
        with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
            return page, dump_dom(chromium, page, profile)

    failures = 0
    with ThreadPoolExecutor(max_workers=2) as pool:  # 2 cores: more browsers only thrash
        for page, dom in pool.map(run, pages):
            problems = check_page(page, dom, static_ids)
            name = page.relative_to(SITE)
            print(f"{'FAIL' if problems else 'ok  '} {name}")
            for problem in problems:
                print(f"       {problem}")
            failures += bool(problems)
    print(f"{len(pages) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
