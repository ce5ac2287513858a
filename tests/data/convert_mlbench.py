#!/usr/bin/env python3
"""Convert a data frame from Debian's r-cran-mlbench (.rda, R's XDR
serialization, gzip/bzip2/xz compressed) to CSV without R.

    apt-get download r-cran-mlbench && dpkg -x r-cran-mlbench_*.deb x
    python3 tests/data/convert_mlbench.py \
        x/usr/lib/R/site-library/mlbench/data/LetterRecognition.rda tests/data/letter.csv

Only what mlbench's data frames use is decoded: integer, double, string and
logical vectors, factors (integer codes + "levels" attribute), lists with
attributes. Factor columns are written as their level strings; R's NA as an
empty field. Used once to produce tests/data/letter.csv (committed, < 1 MB).
"""
import bz2
import csv
import gzip
import lzma
import struct
import sys

NILSXP, SYMSXP, LISTSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP = 0, 1, 2, 9, 10, 13, 14, 16, 19
NILVALUE_SXP, REFSXP = 254, 255
NA_INT = -(2 ** 31)


class Reader:
    def __init__(self, data):
        self.d, self.i, self.refs = data, 0, []

    def int(self):
        v = struct.unpack_from(">i", self.d, self.i)[0]
        self.i += 4
        return v

    def ints(self, n):
        v = struct.unpack_from(f">{n}i", self.d, self.i)
        self.i += 4 * n
        return list(v)

    def reals(self, n):
        v = struct.unpack_from(f">{n}d", self.d, self.i)
        self.i += 8 * n
        return list(v)

    def item(self):
        flags = self.int()
        t, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if t == NILVALUE_SXP:
            return None
        if t == REFSXP:
            return self.refs[(flags >> 8) - 1]
        if t == SYMSXP:
            name = self.item()
            self.refs.append(name)
            return name
        if t == CHARSXP:
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.i:self.i + n].decode("utf-8", "replace")
            self.i += n
            return s
        if t == LISTSXP:  # pairlist: attributes come first, then tag, car, cdr
            out = {}
            while True:
                attr = self.item() if has_attr else None
                tag = self.item() if has_tag else None
                out[tag] = self.item()
                nxt = self.int()
                if (nxt & 0xFF) != LISTSXP:
                    self.i -= 4
                    self.item()  # NILVALUE
                    return out
                has_attr, has_tag = nxt & (1 << 9), nxt & (1 << 10)
                del attr
        if t in (LGLSXP, INTSXP):
            v = self.ints(self.int())
        elif t == REALSXP:
            v = self.reals(self.int())
        elif t == STRSXP:
            v = [self.item() for _ in range(self.int())]
        elif t == VECSXP:
            v = [self.item() for _ in range(self.int())]
        else:
            raise ValueError(f"unsupported SEXP type {t} at byte {self.i}")
        attrs = self.item() if has_attr else {}
        return {"type": t, "v": v, "attrs": attrs or {}}


def load(path):
    raw = open(path, "rb").read()
    for opener in (lzma.decompress, gzip.decompress, bz2.decompress):
        try:
            raw = opener(raw)
            break
        except Exception:
            pass
    if raw[:5] not in (b"RDX2\n", b"RDX3\n") or raw[5:7] != b"X\n":
        raise ValueError(f"{path}: not an XDR .rda file")
    r = Reader(raw)
    r.i = 7
    version = r.int()
    r.int(), r.int()  # writer R version, minimal reader version
    if version == 3:
        r.i += r.int()  # native encoding name
    return r.item()  # pairlist name -> object


def column(obj):
    levels = obj["attrs"].get("levels")
    if levels:
        return ["" if c == NA_INT else levels["v"][c - 1] for c in obj["v"]]
    if obj["type"] == REALSXP:
        return ["" if x != x else ("%d" % x if x == int(x) else repr(x)) for x in obj["v"]]
    if obj["type"] in (INTSXP, LGLSXP):
        return ["" if x == NA_INT else str(x) for x in obj["v"]]
    return ["" if s is None else s for s in obj["v"]]


def main(src, dst):
    (frame,) = load(src).values()
    names = frame["attrs"]["names"]["v"]
    cols = [column(c) for c in frame["v"]]
    with open(dst, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        w.writerows(zip(*cols))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
