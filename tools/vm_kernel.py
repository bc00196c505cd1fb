"""tools/vm_kernel.py — builds the guest kernel of `--isolation vm` from
Debian's kernel source with tools/vm-kernel.config (used by tools/vm-assets).

Contract: build(cache, fragment) returns (vmlinux path, kernel release). The
source is Debian's linux-source package (the newest linux-source-*.deb in
`cache`, else the one the linux-source meta package depends on, downloaded
there). A build is kept in the cache as vmlinux-KEY and release-KEY, KEY
naming the source package, a hash of the fragment and the compiler, and is
reused while all three stay the same; the source tree and objects live in a
temporary directory under the cache and are deleted (~1.5 GB). Builds hold
an exclusive lock on cache/.build.lock, so two at once wait for each other.
The configuration is `make tinyconfig`, the fragment merged on top, then
`make olddefconfig`; an option of the fragment that does not end up as
written (a dependency missing) fails the build, naming it. Needs make, gcc,
bison, flex, bc and libelf-dev (tools/install-deps)."""

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

from vm_apt import Fail, fetch_deb, newest_deb, run, step

SOURCE_META = "linux-source"
SOURCE_PREFIX = "linux-source-"


def compiler_id():
    try:
        p = subprocess.run(["gcc", "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise Fail(f"gcc: {e.strerror} (the guest kernel is built with it)")
    return p.stdout.decode(errors="replace").splitlines()[0] if p.stdout else "gcc"


def wanted_options(fragment):
    """{CONFIG_NAME: value} of the fragment; "n" for CONFIG_X=n."""
    want = {}
    with open(fragment) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r"(CONFIG_[A-Za-z0-9_]+)=(.*)", line)
            if not m:
                raise Fail(f"{fragment}:{n}: not a CONFIG_NAME=VALUE line: {line}")
            want[m.group(1)] = m.group(2)
    return want


def check_config(dotconfig, want):
    have = {}
    with open(dotconfig) as f:
        for line in f:
            m = re.fullmatch(r"(CONFIG_[A-Za-z0-9_]+)=(.*)", line.strip())
            if m:
                have[m.group(1)] = m.group(2)
    wrong = [f"{k}={v} (got {have.get(k, 'n')})" for k, v in want.items() if have.get(k, "n") != v]
    if wrong:
        raise Fail("the kernel configuration did not keep " + ", ".join(wrong)
                   + ": a dependency of theirs is missing from tools/vm-kernel.config")


def source_deb(cache):
    deb = newest_deb(cache, SOURCE_PREFIX + "*.deb")
    return deb or fetch_deb(cache, SOURCE_META, SOURCE_PREFIX)


def compile_kernel(cache, deb, fragment, want):
    """(vmlinux bytes, release), built in a temporary tree under cache."""
    jobs = str(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=cache) as tmp:
        step(f"unpacking {os.path.basename(deb)}")
        run(["dpkg-deb", "-x", deb, os.path.join(tmp, "pkg")])
        tarballs = glob.glob(os.path.join(tmp, "pkg", "usr", "src", "linux-source-*.tar.*"))
        if len(tarballs) != 1:
            raise Fail(f"{os.path.basename(deb)} holds {len(tarballs)} usr/src/linux-source-*.tar.* "
                       "files, expected 1: is it a linux-source package?")
        run(["tar", "-xf", tarballs[0], "-C", tmp])
        shutil.rmtree(os.path.join(tmp, "pkg"))
        trees = [d for d in glob.glob(os.path.join(tmp, "linux-source-*")) if os.path.isdir(d)]
        if len(trees) != 1:
            raise Fail(f"{os.path.basename(tarballs[0])} did not unpack to one linux-source-* tree")
        src, obj = trees[0], os.path.join(tmp, "obj")
        step("configuring: tinyconfig + " + os.path.basename(fragment))
        run(["make", "-C", src, f"O={obj}", "tinyconfig"])
        run([os.path.join(src, "scripts", "kconfig", "merge_config.sh"), "-m", "-O", obj,
             os.path.join(obj, ".config"), fragment], cwd=src)
        run(["make", "-C", src, f"O={obj}", "olddefconfig"])
        check_config(os.path.join(obj, ".config"), want)
        step(f"compiling vmlinux ({jobs} jobs; a few minutes)")
        t0 = time.monotonic()
        run(["make", "-C", src, f"O={obj}", f"-j{jobs}", "vmlinux"])
        step(f"compiled in {time.monotonic() - t0:.0f} s")
        release = run(["make", "-s", "-C", src, f"O={obj}", "kernelrelease"]).strip().splitlines()[-1]
        with open(os.path.join(obj, "vmlinux"), "rb") as f:
            return f.read(), release


def build(cache, fragment):
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError as e:
        raise Fail(f"cannot create the cache {cache}: {e.strerror}")
    want = wanted_options(fragment)
    with open(os.path.join(cache, ".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deb = source_deb(cache)
        h = hashlib.sha256()
        for part in (os.path.basename(deb), compiler_id()):
            h.update(part.encode() + b"\0")
        with open(fragment, "rb") as f:
            h.update(f.read())
        key = h.hexdigest()[:16]
        vmlinux = os.path.join(cache, f"vmlinux-{key}")
        release_file = os.path.join(cache, f"release-{key}")
        if os.path.isfile(vmlinux) and os.path.isfile(release_file):
            step(f"guest kernel {key} from the cache ({os.path.basename(deb)})")
        else:
            data, release = compile_kernel(cache, deb, fragment, want)
            for path, content in ((vmlinux, data), (release_file, (release + "\n").encode())):
                with open(path + ".tmp", "wb") as f:
                    f.write(content)
                os.replace(path + ".tmp", path)
        with open(release_file) as f:
            return vmlinux, f.read().strip()
