#!/usr/bin/python3
"""Call one rtorrent XML-RPC method over its local SCGI socket (stdlib only).

usage: rtorrent-rpc.py SOCKET METHOD [ARG...]
Prints the result (a list one item per line). Exit 1 on fault or error.
"""
import socket
import sys
import xmlrpc.client


def call(path, method, *args, timeout=5.0):
    body = xmlrpc.client.dumps(tuple(args), method).encode()
    hdrs = b"CONTENT_LENGTH\x00%d\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/RPC2\x00" % len(body)
    req = b"%d:%s," % (len(hdrs), hdrs) + body
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(req)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    _, _, xml = data.partition(b"\r\n\r\n")
    result, _ = xmlrpc.client.loads(xml)
    return result[0]


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        r = call(sys.argv[1], sys.argv[2], *sys.argv[3:])
    except Exception as e:
        print("rtorrent-rpc: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    if isinstance(r, list):
        for x in r:
            print(x)
    else:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
