"""Opens the backtest's report.html in headless Chromium and checks it renders.

    python3 backtest/tests/report/chromium.py CHROMIUM REPORT_HTML OUT_DIR

Takes a screenshot (OUT_DIR/report.png) and the rendered DOM, and fails if the browser
logged a console or page error, if the page lacks its charts, or if the screenshot is
blank or lacks the colours of the equity curve, the drawdown and the heatmap.
"""

import re
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path


def decode_png(data):
    """Width, height and RGB rows of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * channels:x * channels + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def main():
    chromium, report, out = sys.argv[1], Path(sys.argv[2]).resolve(), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
    with tempfile.TemporaryDirectory() as profile:
        shot_run = subprocess.run(
            [chromium, *flags, f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,2000", report.as_uri()],
            capture_output=True, text=True, timeout=120)
    with tempfile.TemporaryDirectory() as profile:
        dom_run = subprocess.run(
            [chromium, *flags, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
            capture_output=True, text=True, timeout=120)
    (out / "chromium.log").write_text(shot_run.stderr + dom_run.stderr)
    (out / "report.dom.html").write_text(dom_run.stdout)
    problems = []
    log = shot_run.stderr + dom_run.stderr
    for line in log.splitlines():
        if re.search(r"CONSOLE|Uncaught|SyntaxError|ReferenceError|Failed to load", line):
            problems.append(f"browser log: {line}")
    if not shot.exists():
        problems.append(f"no screenshot (exit {shot_run.returncode}): {shot_run.stderr[-500:]}")
    dom = dom_run.stdout
    if dom.count("<svg") < 3:
        problems.append(f"the rendered page has {dom.count('<svg')} charts, expected 3")
    for text in ("Equity", "Drawdown", "Top runs", "date (UTC)", "fast window", "slow window"):
        if text not in dom:
            problems.append(f"the rendered page lacks `{text}`")
    if re.search(r"(src|href)=\"https?:", dom):
        problems.append("the page refers to something on the network")
    if shot.exists():
        w, h, rows = decode_png(shot.read_bytes())
        pixels = [p for row in rows for p in row]
        white = sum(1 for p in pixels if p == (255, 255, 255))
        blue = sum(1 for p in pixels if abs(p[0] - 31) < 30 and abs(p[1] - 95) < 30 and p[2] > 160)
        red = sum(1 for p in pixels if p[0] > 150 and p[1] < 120 and p[2] < 120)
        green = sum(1 for p in pixels if p[1] > 180 and p[0] < 180 and p[2] < 120)
        print(f"screenshot {w}x{h}: {white} white, {blue} blue, {red} red, {green} green pixels")
        if white > 0.97 * len(pixels):
            problems.append("the screenshot is (almost) blank")
        if blue < 200:
            problems.append(f"no equity curve in the screenshot ({blue} blue pixels)")
        if red < 200:
            problems.append(f"no drawdown or heatmap colours ({red} red pixels)")
        if green < 50:
            problems.append(f"no heatmap colours ({green} green pixels)")
    for p in problems:
        print("PROBLEM", p)
    print(f"report checked in Chromium: {len(problems)} problem(s); screenshot {shot}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
