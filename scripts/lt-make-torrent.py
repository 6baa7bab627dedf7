#!/usr/bin/python3
"""Make a torrent with libtorrent: v1, v2-only or hybrid (libtorrent 2.0's default).

usage: lt-make-torrent.py --kind v1|v2|hybrid --content PATH --out FILE [--piece-size N]

PATH is a file or directory whose parent is the save path. Prints one line:
"<v1 hex or -> <v2 hex or -> <metadata size>".
"""
import argparse
import os
import sys

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["v1", "v2", "hybrid"], required=True)
    ap.add_argument("--content", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--piece-size", type=int, default=16384)
    a = ap.parse_args()
    fs = lt.file_storage()
    lt.add_files(fs, a.content)
    if fs.num_files() == 0:
        sys.exit("lt-make-torrent: no files under %s" % a.content)
    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[a.kind]
    ct = lt.create_torrent(fs, a.piece_size, flags=flags)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(a.content)))
    data = lt.bencode(ct.generate())
    with open(a.out, "wb") as f:
        f.write(data)
    ti = lt.torrent_info(a.out)
    ih = ti.info_hashes()
    v1 = str(ih.v1) if ih.has_v1() else "-"
    v2 = ih.v2.to_bytes().hex() if ih.has_v2() else "-"
    print(v1, v2, len(ti.info_section()))


if __name__ == "__main__":
    main()
