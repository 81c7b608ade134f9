#!/usr/bin/env python3
"""Makes a single-layer OCI image archive (an OCI layout in a tar, what `ctr images import` and
BuildKit's oci-layout contexts read) from a directory, with no registry and no Docker.

    oci-from-dir.py ROOTFS_DIR OUT.tar REF [--entrypoint JSON] [--cmd JSON] [--user UID:GID] [--env K=V]...

REF is the name recorded in the index (org.opencontainers.image.ref.name and
io.containerd.image.name), e.g. registry.k8s.io/pause:3.10.2. Files are stored with numeric
owners as on disk, mtimes clamped to 0, sorted, so the same tree gives the same digest.
"""
import argparse, gzip, hashlib, io, json, os, tarfile

ap = argparse.ArgumentParser()
ap.add_argument("rootfs")
ap.add_argument("out")
ap.add_argument("ref")
ap.add_argument("--entrypoint", default=None)
ap.add_argument("--cmd", default=None)
ap.add_argument("--user", default=None)
ap.add_argument("--env", action="append", default=[], help="NAME=VALUE, repeatable")
a = ap.parse_args()

raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    for dirpath, dirnames, filenames in os.walk(a.rootfs):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            info = t.gettarinfo(full, os.path.relpath(full, a.rootfs))
            info.mtime = 0
            info.uname = info.gname = ""
            if info.isreg():
                with open(full, "rb") as f:
                    t.addfile(info, f)
            else:
                t.addfile(info)
layer_tar = raw.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
layer = gzip.compress(layer_tar, compresslevel=6, mtime=0)

blobs = {}
def blob(data: bytes, media: str) -> dict:
    d = hashlib.sha256(data).hexdigest()
    blobs[d] = data
    return {"mediaType": media, "digest": "sha256:" + d, "size": len(data)}

cfg = {}
if a.entrypoint: cfg["Entrypoint"] = json.loads(a.entrypoint)
if a.cmd: cfg["Cmd"] = json.loads(a.cmd)
if a.user: cfg["User"] = a.user
cfg["Env"] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env
config = {"architecture": "amd64", "os": "linux", "config": cfg,
          "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "history": [{"created_by": "oci-from-dir.py"}]}
layer_desc = blob(layer, "application/vnd.oci.image.layer.v1.tar+gzip")
config_desc = blob(json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc, "layers": [layer_desc]}
man_desc = blob(json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
man_desc["annotations"] = {"org.opencontainers.image.ref.name": a.ref, "io.containerd.image.name": a.ref}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [man_desc]}

with tarfile.open(a.out + ".tmp", "w") as t:
    def add(name, data):
        i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 0
        t.addfile(i, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", json.dumps(index).encode())
    for d, data in sorted(blobs.items()):
        add("blobs/sha256/" + d, data)
os.replace(a.out + ".tmp", a.out)
print(man_desc["digest"])
