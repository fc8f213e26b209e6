#!/usr/bin/env python3
"""Draws the app's icons (crates/server/static/icons): a white padlock on the app's blue, as
PNG at 192 and 512 pixels (what a web manifest needs) and the same drawing as SVG.

Pure Python (zlib and struct), no imaging library: run `python3 scripts/make-icons.py` and
commit the result. The shapes are given once, in a 0..1 square, and both outputs follow them.
The padlock stays inside the middle 80 %, so the PNGs also serve as "maskable" icons.
"""
import os
import struct
import zlib

BLUE = (0x0B, 0x57, 0xD0)
WHITE = (0xFF, 0xFF, 0xFF)
# Padlock, in units of the icon's side.
BODY = (0.28, 0.44, 0.72, 0.78)  # x0, y0, x1, y1 of the body
BODY_RADIUS = 0.06
SHACKLE_CX, SHACKLE_CY, SHACKLE_R, SHACKLE_W = 0.5, 0.40, 0.15, 0.065  # arc centre, radius, width
HOLE_CX, HOLE_CY, HOLE_R = 0.5, 0.58, 0.045
SLOT = (0.485, 0.58, 0.515, 0.68)

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "server", "static", "icons")


def in_round_rect(x, y, box, r):
    x0, y0, x1, y1 = box
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def is_white(x, y):
    """Whether the point (0..1 square) is part of the padlock."""
    hole = (x - HOLE_CX) ** 2 + (y - HOLE_CY) ** 2 <= HOLE_R**2 or (
        SLOT[0] <= x <= SLOT[2] and SLOT[1] <= y <= SLOT[3]
    )
    if in_round_rect(x, y, BODY, BODY_RADIUS):
        return not hole
    # The shackle: an upper half ring and two legs down to the body.
    d = ((x - SHACKLE_CX) ** 2 + (y - SHACKLE_CY) ** 2) ** 0.5
    inner, outer = SHACKLE_R - SHACKLE_W / 2, SHACKLE_R + SHACKLE_W / 2
    if y <= SHACKLE_CY and inner <= d <= outer:
        return True
    for leg_x in (SHACKLE_CX - SHACKLE_R, SHACKLE_CX + SHACKLE_R):
        if abs(x - leg_x) <= SHACKLE_W / 2 and SHACKLE_CY <= y <= BODY[1] + 0.01:
            return True
    return False


def png(size, path):
    ss = 4  # samples per pixel side, for smooth edges
    rows = []
    for py in range(size):
        row = bytearray([0])  # filter: none
        for px in range(size):
            n = 0
            for sy in range(ss):
                for sx in range(ss):
                    if is_white((px + (sx + 0.5) / ss) / size, (py + (sy + 0.5) / ss) / size):
                        n += 1
            a = n / (ss * ss)
            row += bytes(round(b + (w - b) * a) for b, w in zip(BLUE, WHITE))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9))
    data += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def svg(path):
    s = 100
    x0, y0, x1, y1 = (v * s for v in BODY)
    r = SHACKLE_R * s
    cx, cy = SHACKLE_CX * s, SHACKLE_CY * s
    text = f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {s} {s}">
<rect width="{s}" height="{s}" fill="#{BLUE[0]:02x}{BLUE[1]:02x}{BLUE[2]:02x}"/>
<path d="M{cx - r:g} {BODY[1] * s + 1:g}V{cy:g}A{r:g} {r:g} 0 0 1 {cx + r:g} {cy:g}V{BODY[1] * s + 1:g}" fill="none" stroke="#fff" stroke-width="{SHACKLE_W * s:g}"/>
<rect x="{x0:g}" y="{y0:g}" width="{x1 - x0:g}" height="{y1 - y0:g}" rx="{BODY_RADIUS * s:g}" fill="#fff"/>
<circle cx="{HOLE_CX * s:g}" cy="{HOLE_CY * s:g}" r="{HOLE_R * s:g}" fill="#{BLUE[0]:02x}{BLUE[1]:02x}{BLUE[2]:02x}"/>
<rect x="{SLOT[0] * s:g}" y="{SLOT[1] * s:g}" width="{(SLOT[2] - SLOT[0]) * s:g}" height="{(SLOT[3] - SLOT[1]) * s:g}" fill="#{BLUE[0]:02x}{BLUE[1]:02x}{BLUE[2]:02x}"/>
</svg>
"""
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for size in (192, 512):
        png(size, os.path.join(OUT, f"icon-{size}.png"))
    svg(os.path.join(OUT, "icon.svg"))
    print(f"icons written to {os.path.normpath(OUT)}")
