#!/usr/bin/python3
"""Load a .torrent with libtorrent and print "<v1 hex or -> <v2 hex or -> <name>".

usage: lt-torrent-info.py FILE   (exit 1 if libtorrent cannot load it)
"""
import sys

import libtorrent as lt

try:
    ti = lt.torrent_info(sys.argv[1])
except Exception as e:  # libtorrent raises RuntimeError on a bad file
    sys.exit("lt-torrent-info: %s: %s" % (sys.argv[1], e))
ih = ti.info_hashes()
print(str(ih.v1) if ih.has_v1() else "-", ih.v2.to_bytes().hex() if ih.has_v2() else "-", ti.name())
