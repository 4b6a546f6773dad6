#!/usr/bin/python3
"""gallery_png.py - a small copy of a figure for the README gallery.

    /usr/bin/python3 analysis/gallery_png.py SRC.png DST.png [--width 800] [--max-kb 150]

Resamples SRC to WIDTH pixels wide (antialiased, with matplotlib itself: no
other image library is needed) and writes DST as an optimised PNG; when DST
is still over MAX_KB kilobytes the width is reduced by 10 % steps (down to
half of WIDTH), and exit status 1 says it could not get under the limit.
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def shrink(src, dst, width):
    img = mpimg.imread(src)
    h, w = img.shape[:2]
    width = min(width, w)
    height = max(1, round(h * width / w))
    dpi = 100
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(img, interpolation="antialiased", aspect="auto")
    ax.set_axis_off()
    try:
        fig.savefig(dst, dpi=dpi, pil_kwargs={"optimize": True})
    except TypeError:  # a matplotlib without pil_kwargs
        fig.savefig(dst, dpi=dpi)
    plt.close(fig)
    return os.path.getsize(dst)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--width", type=int, default=800)
    ap.add_argument("--max-kb", type=float, default=150.0)
    args = ap.parse_args(argv)
    width = args.width
    size = shrink(args.src, args.dst, width)
    while size > args.max_kb * 1024 and width > args.width // 2:
        width = int(width * 0.9)
        size = shrink(args.src, args.dst, width)
    print("%s: %d px wide, %.0f kB" % (args.dst, width, size / 1024.0))
    return 0 if size <= args.max_kb * 1024 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
