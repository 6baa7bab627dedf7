#!/usr/bin/python3
"""Make a small deterministic test torrent with libtorrent (v1 only).

usage: make-test-torrent.py OUTDIR [--name NAME] [--files N] [--size BYTES]
                            [--piece-size BYTES] [--single]

Writes OUTDIR/content/NAME (a directory with N files, or one file with
--single) whose bytes are a fixed function of the file index, and
OUTDIR/NAME.torrent with no trackers. Prints "TORRENT INFOHASH_HEX
CONTENT_PARENT_DIR" on stdout.
"""
import argparse
import hashlib
import os
import sys

import libtorrent as lt


def content(index, size):
    out = bytearray()
    ctr = 0
    while len(out) < size:
        out += hashlib.sha256(b"btext-test-%d-%d" % (index, ctr)).digest()
        ctr += 1
    return bytes(out[:size])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--name", default="btext-test")
    ap.add_argument("--files", type=int, default=2)
    ap.add_argument("--size", type=int, default=40000, help="bytes per file")
    ap.add_argument("--piece-size", type=int, default=16384)
    ap.add_argument("--single", action="store_true", help="single-file torrent")
    a = ap.parse_args()

    parent = os.path.join(os.path.abspath(a.outdir), "content")
    os.makedirs(parent, exist_ok=True)
    root = os.path.join(parent, a.name)
    if a.single:
        with open(root, "wb") as f:
            f.write(content(0, a.size))
    else:
        os.makedirs(root, exist_ok=True)
        for i in range(a.files):
            with open(os.path.join(root, "file%02d.bin" % i), "wb") as f:
                f.write(content(i, a.size))

    fs = lt.file_storage()
    lt.add_files(fs, root)
    # v1 only: v2/hybrid torrents are not understood by Transmission 3.00.
    ct = lt.create_torrent(fs, a.piece_size, flags=lt.create_torrent.v1_only)
    ct.set_creator("btext make-test-torrent")
    lt.set_piece_hashes(ct, parent)
    e = ct.generate()
    e.pop(b"creation date", None)  # deterministic bytes
    data = lt.bencode(e)
    tpath = os.path.join(os.path.abspath(a.outdir), a.name + ".torrent")
    with open(tpath, "wb") as f:
        f.write(data)
    ih = str(lt.torrent_info(tpath).info_hashes().v1)
    print(tpath, ih, parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
