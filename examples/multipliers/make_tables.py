#!/usr/bin/env python3
"""Write the 8-bit multiplier lookup tables used by the approximate-multiplier examples
and print their error statistics (the table in README.md is produced by this script).

Files (written next to this script unless --out is given):

  mul8s_exact.npy   TorchApprox / AdaPT layout: int32 [256, 256], signed operands.
                    Index i on either axis is operand i if i < 128 else i - 256
                    (i.e. the order 0..127, -128..-1: the two's-complement bit pattern).
                    Entry [i, j] = a * b.
  mul8s_trunc6.npy  Same layout; approximate: p = (|a| * |b|) & ~63 (the six least-
                    significant product bits are dropped), then the sign of a*b is reapplied.
  mul8u_exact.bin   TFApprox layout: 65536 little-endian uint16, entry at a*256 + b = a*b
                    for unsigned a, b in 0..255 (same function as EvoApprox8b mul8u_1JFF).

Usage: pip install numpy && python3 examples/multipliers/make_tables.py [--out DIR]
"""

import argparse
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def signed_operands():
    """Operand value for each table index: 0..127, then -128..-1."""
    i = np.arange(256, dtype=np.int64)
    return np.where(i < 128, i, i - 256)


def mul8s_exact():
    a = signed_operands()
    return (a[:, None] * a[None, :]).astype(np.int32)


def mul8s_trunc6():
    a = signed_operands()
    prod = a[:, None] * a[None, :]
    mag = (np.abs(a)[:, None] * np.abs(a)[None, :]) & ~np.int64(63)
    return (np.sign(prod) * mag).astype(np.int32)


def mul8u_exact():
    a = np.arange(256, dtype=np.int64)
    return (a[:, None] * a[None, :]).astype("<u2").reshape(-1)  # index a*256 + b


def stats(approx, exact):
    """Mean error, mean absolute error, worst-case absolute error (approx - exact)."""
    e = approx.astype(np.int64) - exact.astype(np.int64)
    worst = int(np.abs(e).max())
    return float(e.mean()), float(np.abs(e).mean()), worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    ex_s = mul8s_exact()
    tr_s = mul8s_trunc6()
    ex_u = mul8u_exact()

    # Sanity checks of the layouts.
    assert ex_s[3, 255] == -3 and ex_s[128, 128] == 16384 and ex_s[255, 255] == 1
    assert tr_s[128, 128] == 16384 and tr_s[127, 127] == (127 * 127) & ~63
    assert tr_s[127, 129] == -((127 * 127) & ~63)
    assert ex_u[255 * 256 + 255] == 65025 and ex_u[3 * 256 + 7] == 21

    np.save(os.path.join(args.out, "mul8s_exact.npy"), ex_s)
    np.save(os.path.join(args.out, "mul8s_trunc6.npy"), tr_s)
    with open(os.path.join(args.out, "mul8u_exact.bin"), "wb") as f:
        f.write(ex_u.tobytes())

    a = np.arange(256, dtype=np.int64)
    exact_u = (a[:, None] * a[None, :]).reshape(-1)
    rows = [
        ("mul8s_exact.npy", stats(ex_s, ex_s)),
        ("mul8u_exact.bin", stats(ex_u, exact_u)),
        ("mul8s_trunc6.npy", stats(tr_s, ex_s)),
    ]
    print("file                mean error   mean abs error   worst-case abs error   (over all 65536 pairs)")
    for name, (me, mae, wce) in rows:
        print(f"{name:18s} {me:11.4f} {mae:16.4f} {wce:22d}")
    # Extra figures for trunc6, relative to the exact product.
    nz = ex_s != 0
    rel = np.abs(tr_s[nz].astype(np.int64) - ex_s[nz]) / np.abs(ex_s[nz])
    print(f"mul8s_trunc6: mean relative error (non-zero products) {rel.mean():.4f}, "
          f"exact pairs {int((tr_s == ex_s).sum())}/65536")


if __name__ == "__main__":
    main()
