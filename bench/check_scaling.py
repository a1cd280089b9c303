"""How `analogc check` scales with the size of a model file (issue 17, item 7).

Generates the front end's worst cases at n and 4n and prints the time of each
and their ratio: linear work gives about 4, quadratic 16, cubic 64.

    cargo build --release
    python3 bench/check_scaling.py [--n 2000] [--analogc target/release/analogc]

- unknown names: n layers, each reading a name that is not defined (every
  diagnostic looks for a suggestion among all the names);
- extends chain: n profiles, each extending the next one defined after it
  (derived first), each used by a layer;
- long model: n layers in a chain.
"""
import argparse
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def unknown_names(n):
    body = "".join(f"  h{i} = relu(u{i})\n" for i in range(n))
    return f"model big {{\n  input x: f32[4]\n{body}  output y = x\n}}\n"


def extends_chain(n):
    profiles = [f"profile p{i} extends p{i - 1} {{ noise additive(sigma = 0.1) }}" for i in range(n - 1, 0, -1)]
    profiles.append("profile p0 { noise additive(sigma = 0.1) }")
    layers = "".join(f"  h{i} = relu(x) on p{i}\n" for i in range(n))
    return "\n".join(profiles) + f"\nmodel m {{\n  input x: f32[4]\n{layers}  output y = h0\n}}\n"


def long_model(n):
    layers = "".join(f"  h{i} = relu(h{i - 1})\n" for i in range(1, n))
    return f"model m {{\n  input x: f32[4]\n  h0 = relu(x)\n{layers}  output y = h{n - 1}\n}}\n"


def seconds(binary, text):
    with tempfile.NamedTemporaryFile("w", suffix=".anl", delete=False) as f:
        f.write(text)
    try:
        start = time.perf_counter()
        subprocess.run([binary, "check", f.name, "--message-format", "json"], capture_output=True)
        return time.perf_counter() - start
    finally:
        os.unlink(f.name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--analogc", default=os.path.join(ROOT, "target", "release", "analogc"))
    args = ap.parse_args()
    print(f"| case | n = {args.n} | n = {4 * args.n} | ratio (linear: 4) | MB at 4n |")
    print("|---|---|---|---|---|")
    for name, make in [("unknown names", unknown_names), ("extends chain", extends_chain), ("long model", long_model)]:
        small, large = make(args.n), make(4 * args.n)
        a, b = seconds(args.analogc, small), seconds(args.analogc, large)
        print(f"| {name} | {a:.3f} s | {b:.3f} s | {b / a:.1f} | {len(large) / 1e6:.2f} |")


if __name__ == "__main__":
    main()
