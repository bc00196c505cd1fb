"""tools/vm_apt.py — what tools/vm-assets and its kernel build share: one-line
failures and steps, quiet commands, and Debian packages fetched into a cache.

Contract: Fail carries one line for the user; step prints one line on stderr
(prefixed by PROG); run shows a command's output only when it fails;
newest_deb/fetch_deb find a package's .deb in a cache directory or download
the package a meta package depends on (apt-get update first on a fresh
machine, when root). Only the standard library is used."""

import glob
import os
import subprocess
import sys
import tempfile

PROG = "vm-assets"


class Fail(Exception):
    """A reason to stop, printed as one line."""


def step(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def run(cmd, cwd=None):
    """Runs cmd; its output is shown only when it fails (apt-get warns at
    length about things that do not matter here, e.g. the _apt sandbox)."""
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    except OSError as e:
        raise Fail(f"{cmd[0]}: {e.strerror}")
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        last = [l for l in out.splitlines() if l.strip()]
        raise Fail(f"{' '.join(cmd)} failed (status {p.returncode})"
                   + (f": {last[-1].strip()}" if last else ""))
    return out


def newest_deb(cache, pattern):
    """The newest cache/pattern file (by mtime), or None."""
    debs = [d for d in glob.glob(os.path.join(cache, pattern))
            if "-dbg" not in os.path.basename(d)]
    return sorted(debs, key=os.path.getmtime)[-1] if debs else None


def resolve_package(meta, prefix):
    """The versioned package (named prefix...) the meta package depends on."""
    def depends():
        try:
            p = subprocess.run(["apt-cache", "depends", meta], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        except OSError as e:
            raise Fail(f"apt-cache: {e.strerror}")
        for line in p.stdout.decode(errors="replace").splitlines():
            key, _, val = line.strip().partition(": ")
            val = val.strip()
            if key.lstrip("|") == "Depends" and val.startswith(prefix) and not val.startswith("<"):
                return val
        return None

    pkg = depends()
    if pkg is None and os.geteuid() == 0:
        # A fresh machine has no package lists: apt-cache knows nothing yet.
        step(f"apt-cache knows no package for {meta}: apt-get update")
        run(["apt-get", "update", "-qq"])
        pkg = depends()
    if pkg is None:
        raise Fail(f"cannot resolve the package {meta} depends on "
                   "(apt-cache depends found none; run apt-get update?)")
    return pkg


def fetch_deb(cache, meta, prefix):
    """Downloads the package meta depends on into cache; returns its path."""
    pkg = resolve_package(meta, prefix)
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError as e:
        raise Fail(f"cannot create the cache {cache}: {e.strerror}")
    step(f"downloading {pkg} into {cache}")
    # Into a private directory first: an interrupted download must not leave
    # a partial .deb that a later run would take for the package.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as tmp:
        run(["apt-get", "download", "-q", pkg], cwd=tmp)
        got = glob.glob(os.path.join(tmp, "*.deb"))
        if len(got) != 1:
            raise Fail(f"apt-get download {pkg} left {len(got)} .deb files, expected 1")
        dest = os.path.join(cache, os.path.basename(got[0]))
        os.replace(got[0], dest)
    return dest
