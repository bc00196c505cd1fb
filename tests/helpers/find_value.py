"""find_value.py REVERSED_VALUE TOP... — print "hits: [paths]": the files under
each TOP (and, for /proc, every process's cmdline and environ) that hold the
value. The value comes reversed, so that no argv of the search holds it (it
would find itself); it is reversed back in memory. Tests pass this file's text
to `python3 -c` inside sandboxes, where the file itself is not visible."""
import os, sys
needle = sys.argv[1][::-1].encode()
hits = []
def scan(path):
    try:
        with open(path, "rb") as f:
            if needle in f.read(1 << 22):
                hits.append(path)
    except OSError:
        pass
for top in sys.argv[2:]:
    if top == "/proc":
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for leaf in ("cmdline", "environ"):
                    scan("/proc/%s/%s" % (pid, leaf))
        continue
    for root, dirs, files in os.walk(top):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                scan(p)
print("hits:", hits)
